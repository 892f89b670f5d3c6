"""The pages' message catalog: Chinese first, English as a switch.

Pages are written for Chinese government staff; English is offered for
reviewers and foreign partners. A key missing from the English catalog falls
back to Chinese, and a key missing everywhere shows as itself, so a forgotten
translation is visible but never breaks a page. Messages produced by services
(error texts) stay Chinese.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"
HTML_LANG = {"zh": "zh-CN", "en": "en"}

CATALOG: dict[str, dict[str, str]] = {
    "zh": {
        "brand.tagline": "省级数字政府数据底座",
        "nav.home": "首页",
        "nav.sharing": "一网共享",
        "nav.market": "数据要素市场",
        "nav.audit": "审计日志",
        "nav.skip": "跳到正文",
        "nav.menu": "导航",
        "lang.switch": "English",
        "lang.switch.title": "Switch to English",
        "user.org": "单位",
        "user.roles": "角色",
        "user.logout": "退出登录",
        "user.login": "登录",
        # sections
        "section.catalog.title": "数据目录",
        "section.catalog.body": (
            "政务数据资源目录：各部门登记数据资源及其信息项（字段类型、个人信息类别）、"
            "共享类型、开放类型、更新周期与数据分级（核心/重要/一般），"
            "支持中文分词与拼音检索，并按 DCAT-AP 3 与 CKAN 接口对外发布。"
        ),
        "section.sharing.title": "共享申请",
        "section.sharing.body": (
            "按用途、按信息项、按时限申请有条件共享的数据；提供方在工作日时限内审批，首席数据官督办逾期事项；"
            "数据异议、需求清单与责任清单也将在此办理。"
        ),
        "section.gateway.title": "数据网关",
        "section.gateway.body": (
            "业务系统凭访问令牌调用已授权的数据：只返回授权的信息项，个人信息默认脱敏，每次调用记入访问日志，"
            "并提供调用量与时延统计。"
        ),
        "section.registry.title": "资产登记",
        "section.registry.body": (
            "数据资产登记与公示：数据商提交登记材料，经评估与公示期（可提出异议）后签发可核验的登记凭证。"
        ),
        "section.exchange.title": "数据交易",
        "section.exchange.body": (
            "数据产品挂牌、询价、订购与交付，公共数据授权运营，交易凭证可由银行等第三方核验。"
        ),
        "section.services.title": "一网通办",
        "section.services.body": (
            "政务服务事项清单与办件：群众和企业在线申办，复用电子证照，按承诺时限（工作日）办结，并对服务作出评价。"
        ),
        "section.governance.title": "一网统管",
        "section.governance.body": (
            "城市运行统一管理：事件上报、分拨、处置与核查闭环，运行指标监测与态势展示。"
        ),
        "section.collab.title": "一网协同",
        "section.collab.body": "协同办公：公文流转、会议、督办与跨部门协作流程（BPMN 2.0）。",
        "section.coming": "建设中",
        "section.coming.note": "本栏目正在建设，上线后将提供：",
        "section.group": "所属板块",
        # home
        "home.title": "工作台",
        "home.greeting": "您好，{name}",
        "home.org": "所在单位",
        "home.roles": "您的角色",
        "home.can": "您可以",
        "home.networks": "平台板块",
        "home.none": "当前角色暂无可用功能，请联系本单位管理员。",
        "scope.all": "全省",
        "scope.subtree": "本单位及下级",
        "scope.own_org": "本单位",
        "scope.self": "本人",
        "can.audit.view": "查阅审计日志并核验其完整性",
        "can.org.create": "新增区域或部门",
        "can.user.create": "创建账号并分配角色",
        "can.user.view": "查看账号及角色",
        "can.token.create": "为业务系统签发访问令牌（命令行或 API）",
        "can.keys.rotate": "轮换平台签名密钥",
        "can.sections": "浏览各板块建设进展",
        # login
        "login.title": "登录",
        "login.heading": "登录一网",
        "login.username": "用户名",
        "login.password": "密码",
        "login.submit": "登录",
        "login.missing": "请输入用户名和密码",
        "login.bad": "用户名或密码错误",
        "login.throttled": "登录失败次数过多，请 {minutes} 分钟后再试",
        "login.hint": "请使用本单位分配的账号登录。连续多次输错密码将暂时锁定该账号的登录。",
        # audit
        "audit.title": "审计日志",
        "audit.intro": "平台所有关键操作均记入防篡改的审计日志（哈希链 + 签名检查点），按时间倒序显示。",
        "audit.filter": "筛选",
        "audit.reset": "清除筛选",
        "audit.actor": "操作人",
        "audit.org": "单位",
        "audit.action": "操作",
        "audit.outcome": "结果",
        "audit.outcome.any": "全部",
        "audit.outcome.ok": "成功",
        "audit.outcome.denied": "拒绝",
        "audit.outcome.failed": "失败",
        "audit.since": "起始日期",
        "audit.until": "截止日期",
        "audit.seq": "序号",
        "audit.at": "时间（北京时间）",
        "audit.target": "对象",
        "audit.details": "详情",
        "audit.empty": "没有符合条件的记录。",
        "audit.older": "更早的记录",
        "audit.newest": "回到最新",
        "audit.summary": "共 {entries} 条记录，{checkpoints} 个签名检查点",
        "audit.verify": "立即核验",
        "audit.verify.hint": "逐条校验哈希链与检查点签名，发现任何修改、删除或重排。",
        "audit.verified": "核验通过：{entries} 条记录，{checkpoints} 个检查点完好。",
        "audit.broken": "核验未通过：第一条异常记录为 #{seq}。原因：{problem}",
        "audit.bad_date": "日期格式应为 YYYY-MM-DD",
        "audit.bad_cursor": "分页参数无效",
        # errors
        "error.title": "出错了",
        "error.400": "请求有误",
        "error.401": "需要登录",
        "error.403": "无权访问",
        "error.404": "页面不存在",
        "error.405": "不支持此操作",
        "error.409": "与现有数据冲突",
        "error.422": "输入有误",
        "error.429": "操作过于频繁",
        "error.500": "服务器内部错误",
        "error.home": "返回首页",
        "error.back": "返回上一页",
        "error.request_id": "请求号",
        "csrf.failed": "页面已过期或来源不明（CSRF 校验失败），请刷新页面后重试",
        "footer.text": "一网 Yiwang · 开源的省级数字政府平台",
    },
    "en": {
        "brand.tagline": "Provincial digital-government data backbone",
        "nav.home": "Home",
        "nav.sharing": "Data sharing",
        "nav.market": "Data market",
        "nav.audit": "Audit log",
        "nav.skip": "Skip to content",
        "nav.menu": "Menu",
        "lang.switch": "中文",
        "lang.switch.title": "切换到中文",
        "user.org": "Organisation",
        "user.roles": "Roles",
        "user.logout": "Sign out",
        "user.login": "Sign in",
        "section.catalog.title": "Data catalog",
        "section.catalog.body": (
            "The government data resource catalog: departments register resources and their fields (type, "
            "kind of personal information), share and open types, update cycle and level (core/important/"
            "general), searchable in Chinese and pinyin, published as DCAT-AP 3 and through a CKAN API."
        ),
        "section.sharing.title": "Sharing requests",
        "section.sharing.body": (
            "Request conditional data for a stated purpose, for chosen fields and a limited time; providers "
            "decide within working-day limits and CDOs chase overdue items. Objections and demand/duty lists "
            "will be handled here too."
        ),
        "section.gateway.title": "Data gateway",
        "section.gateway.body": (
            "Systems call granted data with an access token: only the granted fields, personal information "
            "masked by default, every call logged, with call and latency statistics."
        ),
        "section.registry.title": "Asset registration",
        "section.registry.body": (
            "Data asset registration: merchants file, assessors review, a public notice period allows "
            "objections, and a verifiable registration certificate is issued."
        ),
        "section.exchange.title": "Data exchange",
        "section.exchange.body": (
            "List, quote, buy and deliver data products; authorised operation of public data; certificates "
            "that banks and other third parties can verify."
        ),
        "section.services.title": "One-stop services",
        "section.services.body": (
            "Government service items and cases: citizens and enterprises apply online, reuse e-licences, "
            "cases close within promised working-day limits, and services are rated."
        ),
        "section.governance.title": "Unified governance",
        "section.governance.body": (
            "City operations: report, dispatch, handle and check incidents in a closed loop; monitor "
            "indicators on a situation board."
        ),
        "section.collab.title": "Collaborative office",
        "section.collab.body": "Documents, meetings, supervision and cross-department workflows (BPMN 2.0).",
        "section.coming": "Coming soon",
        "section.coming.note": "This section is being built. When ready it will offer:",
        "section.group": "Part of",
        "home.title": "Dashboard",
        "home.greeting": "Hello, {name}",
        "home.org": "Your organisation",
        "home.roles": "Your roles",
        "home.can": "You can",
        "home.networks": "Networks",
        "home.none": "Your roles give no functions yet; ask your organisation's administrator.",
        "scope.all": "province-wide",
        "scope.subtree": "your organisation and below",
        "scope.own_org": "your organisation",
        "scope.self": "yourself",
        "can.audit.view": "Read the audit log and verify its integrity",
        "can.org.create": "Add regions and departments",
        "can.user.create": "Create accounts and assign roles",
        "can.user.view": "See accounts and their roles",
        "can.token.create": "Issue access tokens for systems (CLI or API)",
        "can.keys.rotate": "Rotate the platform signing key",
        "can.sections": "Follow each network's progress",
        "login.title": "Sign in",
        "login.heading": "Sign in to Yiwang",
        "login.username": "Username",
        "login.password": "Password",
        "login.submit": "Sign in",
        "login.missing": "Enter your username and password",
        "login.bad": "Wrong username or password",
        "login.throttled": "Too many failed sign-ins; try again in {minutes} minutes",
        "login.hint": (
            "Use the account your organisation gave you. Repeated wrong passwords lock sign-in for a while."
        ),
        "audit.title": "Audit log",
        "audit.intro": (
            "Every significant action is recorded in a tamper-evident log (hash chain + signed checkpoints), "
            "newest first."
        ),
        "audit.filter": "Filter",
        "audit.reset": "Clear",
        "audit.actor": "Actor",
        "audit.org": "Organisation",
        "audit.action": "Action",
        "audit.outcome": "Outcome",
        "audit.outcome.any": "Any",
        "audit.outcome.ok": "OK",
        "audit.outcome.denied": "Denied",
        "audit.outcome.failed": "Failed",
        "audit.since": "From",
        "audit.until": "Until",
        "audit.seq": "No.",
        "audit.at": "Time (Beijing)",
        "audit.target": "Target",
        "audit.details": "Details",
        "audit.empty": "No matching entries.",
        "audit.older": "Older entries",
        "audit.newest": "Newest",
        "audit.summary": "{entries} entries, {checkpoints} signed checkpoints",
        "audit.verify": "Verify now",
        "audit.verify.hint": (
            "Checks the hash chain and checkpoint signatures for any edit, deletion or reordering."
        ),
        "audit.verified": "Verified: {entries} entries, {checkpoints} checkpoints intact.",
        "audit.broken": "Verification failed: first bad entry #{seq}. Reason: {problem}",
        "audit.bad_date": "Dates are written YYYY-MM-DD",
        "audit.bad_cursor": "Invalid page cursor",
        "error.title": "Something went wrong",
        "error.400": "Bad request",
        "error.401": "Sign-in required",
        "error.403": "Access denied",
        "error.404": "Page not found",
        "error.405": "Not supported",
        "error.409": "Conflict",
        "error.422": "Invalid input",
        "error.429": "Too many requests",
        "error.500": "Internal server error",
        "error.home": "Home",
        "error.back": "Back",
        "error.request_id": "Request id",
        "csrf.failed": (
            "This page expired or came from elsewhere (CSRF check failed); reload it and try again"
        ),
        "footer.text": "Yiwang 一网 · open-source provincial digital government",
    },
}


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """The text for ``key`` in ``lang`` (falling back to Chinese), with ``{name}`` values filled in."""
    text = CATALOG.get(lang, {}).get(key) or CATALOG[DEFAULT_LANGUAGE].get(key) or key
    return text.format(**values) if values else text


def normalise(lang: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """A supported language code, or ``default``."""
    return lang if lang in LANGUAGES else default


# ------------------------------------------------------------------ the catalog's pages (catalog/pages.py)

_CATALOG_VALUES_ZH = {
    "share_type": {"unconditional": "无条件共享", "conditional": "有条件共享", "none": "不予共享"},
    "open_type": {"unconditional": "无条件开放", "conditional": "有条件开放", "none": "不予开放"},
    "level": {"core": "核心数据", "important": "重要数据", "general": "一般数据"},
    "format": {"table": "库表", "file": "文件", "api": "接口"},
    "share_method": {"api": "接口调用", "table": "库表交换", "file": "文件下载"},
    "update_cycle": {
        "realtime": "实时",
        "daily": "每日",
        "weekly": "每周",
        "monthly": "每月",
        "quarterly": "每季度",
        "yearly": "每年",
        "irregular": "不定期",
    },
    "type": {
        "string": "文本",
        "integer": "整数",
        "number": "数值",
        "date": "日期",
        "datetime": "日期时间",
        "boolean": "是/否",
    },
    "field_format": {
        "id_number": "公民身份号码",
        "uscc": "统一社会信用代码",
        "phone": "手机号码",
        "region_code": "行政区划代码",
        "email": "电子邮箱",
    },
    "pi": {
        "none": "非个人信息",
        "name": "姓名",
        "id_number": "身份证件号码",
        "phone": "电话号码",
        "address": "地址",
        "bank_card": "银行卡号",
        "email": "电子邮箱",
        "other": "其他个人信息",
    },
    "status": {
        "draft": "草稿",
        "submitted": "待审核",
        "published": "已发布",
        "rejected": "已驳回",
        "revoked": "已撤销",
    },
    "pending": {"draft": "变更草稿", "submitted": "变更待审核", "rejected": "变更已驳回"},
    "mode": {"replace": "全量替换", "append": "追加", "upsert": "按主键新增或更新"},
    "mode_hint": {
        "replace": "清空现有数据后写入",
        "append": "在现有数据后追加",
        "upsert": "主键已有的更新，没有的新增",
    },
    "activity": {
        "create": "创建",
        "update": "修改草稿",
        "propose_change": "提出变更",
        "submit": "提交审核",
        "publish": "审核通过并发布",
        "reject": "驳回",
        "reject_change": "驳回变更",
        "revoke": "撤销发布",
        "load": "装载数据",
    },
    "facet": {
        "provider": "提供部门",
        "region": "所属区域",
        "theme": "主题",
        "keyword": "关键词",
        "share_type": "共享类型",
        "open_type": "开放类型",
        "level": "数据分级",
        "format": "资源格式",
        "update_cycle": "更新周期",
    },
    "attr": {
        "code": "资源代码",
        "name": "资源名称",
        "provider": "提供部门",
        "summary": "摘要",
        "category": "资源分类",
        "themes": "主题",
        "keywords": "关键词",
        "format": "资源格式",
        "share_type": "共享类型",
        "share_condition": "共享条件",
        "share_basis": "不予共享的依据",
        "share_method": "共享方式",
        "open_type": "开放类型",
        "update_cycle": "更新周期",
        "level": "数据分级",
        "released": "发布日期",
        "related": "关联资源",
        "fields": "信息项",
    },
    "sort": {"relevance": "相关度", "newest": "最新发布", "requested": "申请最多", "name": "名称"},
    "done": {
        "create": "已保存为草稿。",
        "update": "草稿已更新。",
        "propose_change": "变更已保存；提交审核并通过后生效。",
        "submit": "已提交审核。",
        "publish": "审核通过，资源已发布。",
        "reject": "已驳回。",
        "revoke": "资源已撤销发布。",
        "load": "数据已装载。",
    },
    "field": {
        "name": "英文名",
        "title": "中文名称",
        "type": "数据类型",
        "format": "格式校验",
        "pi": "个人信息类别",
        "key": "主键",
        "required": "必填",
        "remove": "删除",
        "add": "添加信息项",
    },
    "section": {
        "meta": "基本信息",
        "sharing": "共享与开放",
        "freshness": "数据更新",
        "fields": "信息项",
        "preview": "数据样例（个人信息已脱敏）",
        "loads": "装载记录",
        "history": "历史",
        "versions": "发布版本",
        "activity": "操作记录",
    },
    "load": {
        "at": "时间",
        "mode": "装载方式",
        "rows": "行数",
        "actor": "操作人",
        "hash": "内容哈希",
        "source": "文件",
    },
}
_CATALOG_VALUES_EN = {
    "share_type": {
        "unconditional": "Shared freely",
        "conditional": "Shared on conditions",
        "none": "Not shared",
    },
    "open_type": {"unconditional": "Open", "conditional": "Open on conditions", "none": "Not open"},
    "level": {"core": "Core data", "important": "Important data", "general": "General data"},
    "format": {"table": "Table", "file": "File", "api": "API"},
    "share_method": {"api": "API call", "table": "Table exchange", "file": "File download"},
    "update_cycle": {
        "realtime": "Real time",
        "daily": "Daily",
        "weekly": "Weekly",
        "monthly": "Monthly",
        "quarterly": "Quarterly",
        "yearly": "Yearly",
        "irregular": "Irregular",
    },
    "type": {
        "string": "Text",
        "integer": "Integer",
        "number": "Number",
        "date": "Date",
        "datetime": "Date and time",
        "boolean": "Yes/no",
    },
    "field_format": {
        "id_number": "ID number",
        "uscc": "Unified social credit code",
        "phone": "Mobile number",
        "region_code": "Region code",
        "email": "Email",
    },
    "pi": {
        "none": "Not personal",
        "name": "Name",
        "id_number": "ID number",
        "phone": "Phone",
        "address": "Address",
        "bank_card": "Bank card",
        "email": "Email",
        "other": "Other personal",
    },
    "status": {
        "draft": "Draft",
        "submitted": "Submitted",
        "published": "Published",
        "rejected": "Rejected",
        "revoked": "Revoked",
    },
    "pending": {"draft": "Change drafted", "submitted": "Change submitted", "rejected": "Change rejected"},
    "mode": {"replace": "Replace", "append": "Append", "upsert": "Upsert by key"},
    "mode_hint": {
        "replace": "empty the table, then load",
        "append": "add after the rows there",
        "upsert": "update rows with known keys, add the others",
    },
    "activity": {
        "create": "created",
        "update": "edited the draft",
        "propose_change": "proposed a change",
        "submit": "submitted for review",
        "publish": "approved and published",
        "reject": "rejected",
        "reject_change": "rejected the change",
        "revoke": "revoked",
        "load": "loaded data",
    },
    "facet": {
        "provider": "Provider",
        "region": "Region",
        "theme": "Theme",
        "keyword": "Keyword",
        "share_type": "Share type",
        "open_type": "Open type",
        "level": "Level",
        "format": "Format",
        "update_cycle": "Update cycle",
    },
    "attr": {
        "code": "Code",
        "name": "Name",
        "provider": "Provider",
        "summary": "Summary",
        "category": "Category",
        "themes": "Themes",
        "keywords": "Keywords",
        "format": "Format",
        "share_type": "Share type",
        "share_condition": "Sharing condition",
        "share_basis": "Legal basis for not sharing",
        "share_method": "Share method",
        "open_type": "Open type",
        "update_cycle": "Update cycle",
        "level": "Level",
        "released": "Released",
        "related": "Related resources",
        "fields": "Fields",
    },
    "sort": {"relevance": "Relevance", "newest": "Newest", "requested": "Most requested", "name": "Name"},
    "done": {
        "create": "Saved as a draft.",
        "update": "Draft updated.",
        "propose_change": "Change saved; it takes effect once submitted and approved.",
        "submit": "Submitted for review.",
        "publish": "Approved and published.",
        "reject": "Rejected.",
        "revoke": "Revoked.",
        "load": "Data loaded.",
    },
    "field": {
        "name": "Column name",
        "title": "Title",
        "type": "Type",
        "format": "Format check",
        "pi": "Personal information",
        "key": "Key",
        "required": "Required",
        "remove": "Remove",
        "add": "Add a field",
    },
    "section": {
        "meta": "About",
        "sharing": "Sharing and openness",
        "freshness": "Freshness",
        "fields": "Fields",
        "preview": "Sample rows (personal information masked)",
        "loads": "Loads",
        "history": "History",
        "versions": "Published versions",
        "activity": "Activity",
    },
    "load": {
        "at": "Time",
        "mode": "Mode",
        "rows": "Rows",
        "actor": "By",
        "hash": "Content hash",
        "source": "File",
    },
}
_CATALOG_TEXT_ZH = {
    "catalog.title": "数据目录",
    "catalog.intro": (
        "检索全省政务数据资源：支持中文词语（词中之词亦可）、拼音与拼音首字母（如 qydj），"
        "可按部门、区域、主题等筛选。"
    ),
    "catalog.anonymous": "未登录时仅显示无条件开放的资源。",
    "catalog.new": "编目新资源",
    "catalog.mine": "本单位目录",
    "catalog.mine.empty": "暂无资源。",
    "catalog.review.title": "目录审核",
    "catalog.review.intro": (
        "提交审核的新资源与已发布资源的变更，由提供部门的首席数据官或平台运营审核："
        "通过即发布，驳回须说明理由。"
    ),
    "catalog.review.change": "变更",
    "catalog.review.new": "新资源",
    "catalog.review.empty": "暂无待审核的资源。",
    "catalog.review.here": "待您审核",
    "catalog.found": "共找到 {total} 个资源",
    "catalog.published_on": "发布于",
    "catalog.requests": "申请 {n} 次",
    "catalog.matched_fields": "匹配的信息项",
    "catalog.overdue": "数据更新逾期",
    "catalog.none_found": "没有找到符合条件的资源。",
    "catalog.try_pinyin": "可尝试更短的词、拼音或拼音首字母。",
    "catalog.pages": "分页",
    "catalog.prev": "上一页",
    "catalog.next": "下一页",
    "catalog.page_of": "第 {page} / {pages} 页",
    "catalog.search.label": "搜索数据资源",
    "catalog.search.placeholder": "资源名称、信息项、关键词或拼音，如 企业登记、qydj",
    "catalog.search.submit": "搜索",
    "catalog.facets": "筛选",
    "catalog.apply": "应用筛选",
    "catalog.remove_filter": "移除此条件",
    "catalog.clear": "清除筛选",
    "catalog.sort": "排序",
    "catalog.provider": "提供部门",
    "catalog.provider.count": "已发布 {total} 个资源",
    "catalog.provider.unpublished": "本部门尚未发布的资源",
    "catalog.status": "状态",
    "catalog.all": "全部",
    "catalog.name": "资源名称",
    "catalog.code": "资源代码",
    "catalog.updated": "更新于",
    "catalog.diff.item": "项目",
    "catalog.diff.old": "当前",
    "catalog.diff.new": "变更后",
    "catalog.approve": "通过并发布",
    "catalog.reject": "驳回",
    "catalog.reject.reason": "驳回理由（必填）",
    "catalog.new.title": "编目新资源",
    "catalog.edit.title": "编辑资源",
    "catalog.edit.published_note": (
        "该资源已发布：保存的修改将作为变更，提交审核并通过后生成新版本；在此之前目录仍显示当前版本。"
    ),
    "catalog.form.errors": "有 {n} 处需要改正，请查看标红的项目。",
    "catalog.form.basic": "基本信息",
    "catalog.form.code_hint": "留空则自动生成",
    "catalog.form.choose": "请选择",
    "catalog.form.list_hint": "多个用逗号或顿号分隔",
    "catalog.form.related_hint": "关联资源的代码，多个用逗号分隔",
    "catalog.form.sharing": "共享与开放",
    "catalog.form.condition_hint": "有条件共享时必填",
    "catalog.form.basis_hint": "不予共享时必填法律依据",
    "catalog.form.fields": "信息项",
    "catalog.form.fields_hint": (
        "每行一个信息项（数据列）。英文名仅限小写字母、数字和下划线；"
        "个人信息类别决定对外如何脱敏。空行将被忽略。"
    ),
    "catalog.form.save": "保存草稿",
    "catalog.form.save_submit": "保存并提交审核",
    "catalog.cancel": "取消",
    "catalog.version": "第 {n} 版",
    "catalog.action.edit": "编辑",
    "catalog.action.upload": "上传数据",
    "catalog.action.submit": "提交审核",
    "catalog.action.revoke": "撤销发布",
    "catalog.revoke.reason": "撤销理由（必填）",
    "catalog.rejected_because": "审核未通过，理由：",
    "catalog.revoked_because": "已撤销发布，理由：",
    "catalog.change_rejected_because": "变更未通过审核，理由：",
    "catalog.pending_change": "待生效的变更",
    "catalog.last_load": "最近装载：{at}，表中共 {rows} 行",
    "catalog.never_loaded": "尚未装载数据",
    "catalog.no_fields": "未登记信息项",
    "catalog.preview.note": "前 {n} 行（共 {total} 行），个人信息已按规则脱敏",
    "catalog.preview.empty": "尚无数据",
    "catalog.masked": "脱敏",
    "catalog.changed": "变更项",
    "catalog.upload.title": "上传数据",
    "catalog.upload.intro": (
        "支持 CSV（UTF-8 或 GB18030）、XLSX 与 JSON。每一行都按信息项的类型、格式与必填要求校验："
        "只要有一行有误，整个文件都不装载。"
    ),
    "catalog.upload.ok": "装载成功：{rows} 行",
    "catalog.upload.inserted": "新增 {n} 行",
    "catalog.upload.updated": "更新 {n} 行",
    "catalog.upload.table_rows": "表中现有 {n} 行",
    "catalog.upload.rejected": "文件有误，未装载任何数据：共 {total} 处错误",
    "catalog.upload.row": "行号",
    "catalog.upload.field": "信息项",
    "catalog.upload.value": "内容",
    "catalog.upload.reason": "原因",
    "catalog.upload.truncated": "仅显示前 {shown} 处错误（共 {total} 处）。",
    "catalog.upload.file": "选择文件",
    "catalog.upload.choose": "数据文件",
    "catalog.upload.submit": "上传并校验",
    "catalog.upload.columns": "文件应包含的列",
    "catalog.upload.columns_hint": "表头可用中文名称或英文名；打勾的列必须有值。",
}
_CATALOG_TEXT_EN = {
    "catalog.title": "Data catalog",
    "catalog.intro": (
        "Search the province's government data resources in Chinese (words inside words too), "
        "pinyin or initials (qydj), and filter by provider, region, theme and more."
    ),
    "catalog.anonymous": "Signed out, you see only the openly available resources.",
    "catalog.new": "New resource",
    "catalog.mine": "My department's resources",
    "catalog.mine.empty": "No resources yet.",
    "catalog.review.title": "Review queue",
    "catalog.review.intro": (
        "New resources and changes to published ones, reviewed by the provider's CDO or the "
        "platform operator: approving publishes; rejecting needs a reason."
    ),
    "catalog.review.change": "Change",
    "catalog.review.new": "New",
    "catalog.review.empty": "Nothing waits for review.",
    "catalog.review.here": "Waiting for your review",
    "catalog.found": "{total} resources found",
    "catalog.published_on": "Published",
    "catalog.requests": "requested {n} times",
    "catalog.matched_fields": "Matching fields",
    "catalog.overdue": "Update overdue",
    "catalog.none_found": "No resources match.",
    "catalog.try_pinyin": "Try a shorter word, pinyin or initials.",
    "catalog.pages": "Pages",
    "catalog.prev": "Previous",
    "catalog.next": "Next",
    "catalog.page_of": "Page {page} of {pages}",
    "catalog.search.label": "Search resources",
    "catalog.search.placeholder": "Name, field, keyword or pinyin, e.g. 企业登记, qydj",
    "catalog.search.submit": "Search",
    "catalog.facets": "Filters",
    "catalog.apply": "Apply filters",
    "catalog.remove_filter": "Remove this filter",
    "catalog.clear": "Clear filters",
    "catalog.sort": "Sort",
    "catalog.provider": "Provider",
    "catalog.provider.count": "{total} published resources",
    "catalog.provider.unpublished": "Not yet published",
    "catalog.status": "Status",
    "catalog.all": "All",
    "catalog.name": "Name",
    "catalog.code": "Code",
    "catalog.updated": "Updated",
    "catalog.diff.item": "Item",
    "catalog.diff.old": "Now",
    "catalog.diff.new": "Proposed",
    "catalog.approve": "Approve and publish",
    "catalog.reject": "Reject",
    "catalog.reject.reason": "Reason for rejecting (required)",
    "catalog.new.title": "New resource",
    "catalog.edit.title": "Edit resource",
    "catalog.edit.published_note": (
        "This resource is published: your edit becomes a change that takes effect as a "
        "new version once submitted and approved."
    ),
    "catalog.form.errors": "{n} items need correcting; see the marked fields.",
    "catalog.form.basic": "About",
    "catalog.form.code_hint": "leave empty to generate",
    "catalog.form.choose": "Choose",
    "catalog.form.list_hint": "separate several with commas",
    "catalog.form.related_hint": "codes of related resources, separated by commas",
    "catalog.form.sharing": "Sharing and openness",
    "catalog.form.condition_hint": "required when shared on conditions",
    "catalog.form.basis_hint": "legal basis, required when not shared",
    "catalog.form.fields": "Fields",
    "catalog.form.fields_hint": (
        "One field (column) per row. Column names use lower-case letters, digits and "
        "underscores; the kind of personal information decides how it is masked. Empty rows are ignored."
    ),
    "catalog.form.save": "Save draft",
    "catalog.form.save_submit": "Save and submit for review",
    "catalog.cancel": "Cancel",
    "catalog.version": "version {n}",
    "catalog.action.edit": "Edit",
    "catalog.action.upload": "Upload data",
    "catalog.action.submit": "Submit for review",
    "catalog.action.revoke": "Revoke",
    "catalog.revoke.reason": "Reason for revoking (required)",
    "catalog.rejected_because": "Rejected: ",
    "catalog.revoked_because": "Revoked: ",
    "catalog.change_rejected_because": "Change rejected: ",
    "catalog.pending_change": "Proposed change",
    "catalog.last_load": "Last loaded {at}; {rows} rows in the table",
    "catalog.never_loaded": "No data loaded yet",
    "catalog.no_fields": "No fields described",
    "catalog.preview.note": "First {n} rows of {total}; personal information masked",
    "catalog.preview.empty": "No data yet",
    "catalog.masked": "masked",
    "catalog.changed": "changed",
    "catalog.upload.title": "Upload data",
    "catalog.upload.intro": (
        "CSV (UTF-8 or GB18030), XLSX and JSON. Every row is checked against its fields' type, "
        "format and required flag: one bad row and nothing of the file is loaded."
    ),
    "catalog.upload.ok": "Loaded {rows} rows",
    "catalog.upload.inserted": "{n} added",
    "catalog.upload.updated": "{n} updated",
    "catalog.upload.table_rows": "{n} rows in the table",
    "catalog.upload.rejected": "The file has errors; nothing was loaded ({total} errors)",
    "catalog.upload.row": "Row",
    "catalog.upload.field": "Field",
    "catalog.upload.value": "Value",
    "catalog.upload.reason": "Reason",
    "catalog.upload.truncated": "Showing the first {shown} of {total} errors.",
    "catalog.upload.file": "Choose a file",
    "catalog.upload.choose": "Data file",
    "catalog.upload.submit": "Upload and check",
    "catalog.upload.columns": "Columns the file should have",
    "catalog.upload.columns_hint": (
        "Headers may be the Chinese titles or the column names; ticked columns need values."
    ),
}


def _flatten(groups: dict[str, dict[str, str]]) -> dict[str, str]:
    return {
        f"catalog.{group}.{key}": text for group, entries in groups.items() for key, text in entries.items()
    }


CATALOG["zh"].update(_flatten(_CATALOG_VALUES_ZH) | _CATALOG_TEXT_ZH)
CATALOG["en"].update(_flatten(_CATALOG_VALUES_EN) | _CATALOG_TEXT_EN)
