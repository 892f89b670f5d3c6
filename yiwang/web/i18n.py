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
