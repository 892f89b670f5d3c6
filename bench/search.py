"""Chinese search over 100,000 catalog resources: index build speed, index size, query latency.

Builds synthetic but realistic resources (city + department + subject + suffix names, summaries,
field titles), indexes them with ``yiwang.kit.search`` into a temporary SQLite file (and into
PostgreSQL when ``YIWANG_TEST_DATABASE_URL`` is set, in a schema of its own), then runs mixed
queries the way the catalog does: the match subquery JOINed with the caller's resource table and
a filter, one COUNT and the top 20 by relevance. Prints JSON; ``ratio_p50_to_key_lookup`` compares
with a plain indexed key lookup measured in the same run, because these machines are noisy.

    .venv/bin/python bench/search.py [--docs 100000] [--queries 500] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pypinyin import lazy_pinyin
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from yiwang.kit import search
from yiwang.kit.db import make_engine

CITIES = (
    "广东省 广州市 韶关市 深圳市 珠海市 汕头市 佛山市 江门市 湛江市 茂名市 肇庆市 惠州市 梅州市 汕尾市 "
    "河源市 阳江市 清远市 东莞市 中山市 潮州市 揭阳市 云浮市"
).split()
# department -> (category, subjects, specific field titles)
DEPARTMENTS: dict[str, tuple[str, list[str], list[str]]] = {
    "市场监督管理局": (
        "基础信息资源/法人单位",
        ["企业登记", "个体工商户登记", "食品经营许可", "特种设备检验", "行政处罚", "商标质押", "企业年报"],
        ["统一社会信用代码", "企业名称", "法定代表人", "注册资本", "成立日期", "登记机关", "经营范围"],
    ),
    "人力资源和社会保障局": (
        "主题信息资源/社会保障",
        ["社保参保", "养老保险缴费", "失业登记", "就业培训", "职业资格证书", "工伤认定", "劳动仲裁"],
        ["姓名", "公民身份号码", "参保单位", "参保险种", "缴费基数", "缴费月份", "参保状态"],
    ),
    "自然资源局": (
        "基础信息资源/自然资源和空间地理",
        ["不动产登记", "土地出让", "建设用地规划许可", "矿业权", "地质灾害隐患点", "林地保护"],
        ["不动产单元号", "权利人", "坐落", "宗地面积", "用途", "登记时间", "权利类型"],
    ),
    "生态环境局": (
        "主题信息资源/生态环境",
        ["空气质量监测", "水质监测", "排污许可", "环境影响评价", "噪声监测", "危险废物经营许可"],
        ["监测站点", "监测时间", "PM2.5浓度", "PM10浓度", "臭氧浓度", "空气质量指数", "首要污染物"],
    ),
    "交通运输局": (
        "主题信息资源/交通运输",
        ["公交线路", "公交站点", "出租车营运", "道路运输许可", "网约车平台", "港口航道"],
        ["线路名称", "线路编号", "首班时间", "末班时间", "站点名称", "经度", "纬度", "票价"],
    ),
    "教育局": (
        "主题信息资源/教育科技",
        ["学校名录", "学籍信息", "教师资格", "招生计划", "校外培训机构", "学前教育"],
        ["学校名称", "学校标识码", "办学类型", "举办者", "在校生人数", "学段", "校址"],
    ),
    "公安局": (
        "基础信息资源/人口",
        ["户籍人口", "机动车登记", "驾驶证", "居住证", "出入境证件", "治安处罚"],
        ["姓名", "公民身份号码", "户籍地址", "号牌号码", "车辆类型", "准驾车型", "签发日期"],
    ),
    "卫生健康委员会": (
        "主题信息资源/医疗卫生",
        ["医疗机构执业许可", "出生医学证明", "疫苗接种", "医师执业注册", "传染病报告", "家庭医生签约"],
        ["机构名称", "执业地址", "诊疗科目", "床位数", "医师姓名", "执业类别", "接种日期"],
    ),
    "民政局": (
        "主题信息资源/民政",
        ["婚姻登记", "社会组织登记", "最低生活保障", "养老机构", "殡葬服务", "地名信息"],
        ["登记类型", "登记日期", "社会组织名称", "业务主管单位", "保障人数", "床位总数", "地名代码"],
    ),
    "住房和城乡建设局": (
        "主题信息资源/住房城乡建设",
        ["商品房网签备案", "建筑业企业资质", "物业服务企业", "住房公积金缴存", "施工许可", "保障性住房"],
        ["项目名称", "合同编号", "建筑面积", "成交价格", "资质等级", "缴存基数", "施工单位"],
    ),
    "税务局": (
        "主题信息资源/财税金融",
        ["纳税信用评价", "增值税发票", "税务登记", "欠税公告", "个人所得税汇算"],
        ["纳税人识别号", "纳税人名称", "信用级别", "评价年度", "发票代码", "欠税税种", "欠税余额"],
    ),
    "医疗保障局": (
        "主题信息资源/社会保障",
        ["医保参保", "定点医药机构", "医保结算", "门诊慢特病", "长期护理保险"],
        ["参保人姓名", "医保编号", "定点机构名称", "结算金额", "统筹支付", "个人自付", "就诊日期"],
    ),
    "农业农村局": (
        "主题信息资源/农业农村",
        ["农药经营许可", "种子生产经营许可", "农村土地承包", "农产品质量检测", "动物防疫"],
        ["经营者名称", "许可证编号", "承包方", "地块编码", "检测项目", "检测结果", "抽样日期"],
    ),
    "文化广电旅游体育局": (
        "主题信息资源/文化旅游",
        ["旅行社名录", "A级旅游景区", "文物保护单位", "公共体育设施", "演出场所"],
        ["景区名称", "景区等级", "开放时间", "文物级别", "设施类型", "联系电话", "地址"],
    ),
    "应急管理局": (
        "主题信息资源/应急管理",
        ["危险化学品经营许可", "安全生产事故", "应急避难场所", "森林防火", "防汛物资储备"],
        ["单位名称", "许可范围", "事故等级", "死亡人数", "场所名称", "容纳人数", "物资名称"],
    ),
}
SUFFIXES = [
    "基本信息",
    "明细数据",
    "统计数据",
    "名录",
    "台账",
    "变更记录",
    "年度报告",
    "汇总表",
    "监测数据",
    "目录",
]
GENERIC_FIELDS = ["行政区划代码", "数据更新时间", "备注", "状态", "创建时间", "数据来源单位"]
USES = ["政务服务办理", "监管执法", "统计分析", "信用评价", "应急指挥", "决策支持", "跨部门核验"]
CYCLES = ["实时", "每日", "每周", "每月", "每季度", "每年"]
SHARE = ["unconditional", "conditional", "none"]

RESOURCES = MetaData()
resource = Table(
    "bench_resource",
    RESOURCES,
    Column("id", Integer, primary_key=True),
    Column("code", String(60), unique=True, nullable=False),
    Column("name", String(200), nullable=False),
    Column("provider", String(80), nullable=False, index=True),
    Column("share_type", String(20), nullable=False, index=True),
)


def documents(n: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    departments = list(DEPARTMENTS)
    for i in range(n):
        city = rng.choice(CITIES)
        department = rng.choice(departments)
        category, subjects, fields = DEPARTMENTS[department]
        subject = rng.choice(subjects)
        suffix = rng.choice(SUFFIXES)
        year = f"{rng.randint(2015, 2025)}年" if rng.random() < 0.3 else ""
        district = rng.choice(["", "", "", "天河区", "南山区", "禅城区", "香洲区", "惠城区"])
        name = f"{city}{district}{year}{subject}{suffix}"
        provider = f"{city}{department}"
        titles = rng.sample(fields, k=min(len(fields), rng.randint(4, 7))) + rng.sample(GENERIC_FIELDS, 2)
        summary = (
            f"本资源由{provider}提供，汇集{city}{district}{subject}相关{suffix}，"
            f"{rng.choice(CYCLES)}更新，可用于{rng.choice(USES)}和{rng.choice(USES)}。"
        )
        keywords = " ".join([subject, department.removesuffix("局"), rng.choice(USES)])
        yield {
            "code": f"R{i:06d}",
            "name": name,
            "provider": provider,
            "share_type": rng.choice(SHARE),
            "keywords": keywords,
            "body": " ".join([summary, *titles, provider, category]),
        }


def queries(n: int, rng: random.Random) -> list[tuple[str, str]]:
    subjects = [s for _, subs, _ in DEPARTMENTS.values() for s in subs]
    fields = [f for _, _, fs in DEPARTMENTS.values() for f in fs]
    out: list[tuple[str, str]] = []
    for i in range(n):
        kind = ["word", "substring", "pinyin_initials", "full_pinyin", "two_words", "single_char"][i % 6]
        subject = rng.choice(subjects)
        if kind == "word":
            q = rng.choice([subject, rng.choice(fields), rng.choice(SUFFIXES)])
        elif kind == "substring":  # a piece that is not a word of its own: 代码 of 统一社会信用代码
            source = rng.choice([subject, rng.choice(fields)])
            start = rng.randrange(0, max(1, len(source) - 2))
            q = source[start : start + rng.choice([2, 3])]
        elif kind == "pinyin_initials":
            q = "".join(s[0] for s in lazy_pinyin(subject) if s)[: rng.choice([3, 4, 6])]
        elif kind == "full_pinyin":
            q = "".join(lazy_pinyin(subject))[: rng.choice([6, 10, 40])]
        elif kind == "two_words":
            q = f"{rng.choice(CITIES)[:2]} {subject}"
        else:
            q = rng.choice(subject)
        out.append((kind, q))
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 3)

    return {
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": round(ordered[-1] * 1000, 3),
        "n": len(ordered),
    }


def run(
    engine: Engine, n_docs: int, n_queries: int, seed: int, size: Callable[[Session], int]
) -> dict[str, Any]:
    rng = random.Random(seed)
    with engine.begin() as conn:
        search.create_search_index(conn)
        RESOURCES.create_all(conn)
    batch: list[dict[str, Any]] = []
    analysed = 0.0
    start = time.perf_counter()
    with Session(engine) as session:
        size_before = size(session)
        for doc in documents(n_docs, rng):
            batch.append(doc)
            if len(batch) == 2000:
                analysed += _load(session, batch)
                batch.clear()
        if batch:
            analysed += _load(session, batch)
        session.commit()
    with engine.begin() as conn:
        search.optimize_search_index(conn)
    build = time.perf_counter() - start
    with Session(engine) as session:
        index_bytes = size(session) - size_before
        mixed = queries(n_queries, rng)
        for _, q in mixed[:50]:  # warm the caches
            _query(session, q)
        by_kind: dict[str, list[float]] = {}
        totals: dict[str, list[int]] = {}
        for kind, q in mixed:
            start = time.perf_counter()
            total = _query(session, q)
            by_kind.setdefault(kind, []).append(time.perf_counter() - start)
            totals.setdefault(kind, []).append(total)
        lookup = []
        for _ in range(n_queries):
            code = f"R{rng.randrange(n_docs):06d}"
            start = time.perf_counter()
            session.execute(select(resource).where(resource.c.code == code)).all()
            lookup.append(time.perf_counter() - start)
    all_samples = [s for samples in by_kind.values() for s in samples]
    overall = percentiles(all_samples)
    baseline = percentiles(lookup)
    return {
        "docs": n_docs,
        "index_build_seconds": round(build, 2),
        "index_docs_per_second": round(n_docs / build),
        "analysis_seconds": round(analysed, 2),
        "index_bytes": index_bytes,
        "query_ms": {"all": overall} | {kind: percentiles(s) for kind, s in by_kind.items()},
        "median_hits": {kind: int(statistics.median(t)) for kind, t in totals.items()},
        "key_lookup_ms": baseline,
        "ratio_p50_to_key_lookup": round(overall["p50"] / max(baseline["p50"], 1e-6), 1),
        "p95_target_ms": 30,
        "p95_met": overall["p95"] <= 30,
    }


def _load(session: Session, batch: list[dict[str, Any]]) -> float:
    session.execute(
        insert(resource),
        [{k: d[k] for k in ("code", "name", "provider", "share_type")} for d in batch],
    )
    start = time.perf_counter()
    for d in batch:
        search.index_document(
            session, "resource", d["code"], title=d["name"], keywords=d["keywords"], body=d["body"]
        )
    session.commit()
    return time.perf_counter() - start


def _query(session: Session, q: str) -> int:
    """The catalog's pattern: match subquery JOINed with the caller's table and a filter."""
    hits = search.match_subquery(session, "resource", q).subquery()
    base = (
        select(resource.c.code, resource.c.name, hits.c.score)
        .join(hits, hits.c.key == resource.c.code)
        .where(resource.c.share_type != "none")
    )
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    session.execute(base.order_by(hits.c.score.desc(), resource.c.id).limit(20)).all()
    return int(total)


def _sqlite_size(session: Session) -> int:
    """Bytes of the search tables (FTS5 shadow tables, documents and their index) by ``dbstat``;
    where SQLite lacks it, the whole file less its free pages (measured before and after)."""
    try:
        used = session.execute(
            text(
                "SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'search%' "
                "OR name LIKE 'sqlite_autoindex_search%'"
            )
        ).scalar_one()
        return int(used or 0)
    except OperationalError:
        session.rollback()
    page_size = session.execute(text("PRAGMA page_size")).scalar_one()
    pages = session.execute(text("PRAGMA page_count")).scalar_one()
    free = session.execute(text("PRAGMA freelist_count")).scalar_one()
    return int(page_size) * (int(pages) - int(free))


def _postgres_size(session: Session) -> int:
    exists = session.execute(text("SELECT to_regclass('search_document')")).scalar_one()
    if exists is None:
        return 0
    return int(session.execute(text("SELECT pg_total_relation_size('search_document')")).scalar_one())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{Path(tmp) / 'search.db'}")
        report["sqlite"] = run(engine, args.docs, args.queries, args.seed, _sqlite_size)
        engine.dispose()
    pg_url = os.environ.get("YIWANG_TEST_DATABASE_URL")
    if pg_url:
        schema = "bench_search"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        engine = make_engine(pg_url, connect_args={"options": f"-csearch_path={schema}"})
        try:
            report["postgresql"] = run(engine, args.docs, args.queries, args.seed, _postgres_size)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            admin.dispose()
    print(json.dumps(report, ensure_ascii=False, indent=2))  # noqa: T201


if __name__ == "__main__":
    main()
