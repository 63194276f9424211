"""Every word of the pages in English and Simplified Chinese, in one place.

A dict per language rather than a gettext toolchain: a router has no room
for one, and a translator edits one file. The browser's Accept-Language
picks; the switch on every page sets a cookie that wins from then on.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, redirect, request

from routerguard.serve.context import local_path
from routerguard.units import format_size

COOKIE = "lang"
COOKIE_AGE = 365 * 86400
DEFAULT = "en"
LANGUAGES = {"en": "English", "zh-CN": "中文"}

MESSAGES: dict[str, dict[str, str]] = {
    "en": {
        "nav_dashboard": "Dashboard",
        "nav_groups": "Groups",
        "nav_plan": "Plan",
        "nav_alerts": "Alerts",
        "nav_tokens": "API tokens",
        "nav_me": "My usage",
        "logout": "Log out",
        "login": "Log in",
        "login_title": "Admin login",
        "password": "Password",
        "no_password_title": "The admin side is closed",
        "no_password_body": "No admin password has been set yet, so nobody can log in. On the router, run:",
        "no_password_after": "Then reload this page.",
        "plan": "Data plan",
        "no_plan": "No data plan is configured.",
        "used_of": "{used} of {total}",
        "left_amount": "{left} left",
        "used": "Used",
        "allowance": "Allowance",
        "left": "Left",
        "period_ends": "Period ends",
        "forecast_until": "At this rate the plan lasts until {when}.",
        "forecast_past": "At this rate the plan lasts past the reset.",
        "forecast_idle": "Nothing is being used right now.",
        "forecast_gone": "The plan is used up.",
        "carrier_count": "Carrier count (SNMP)",
        "router_own": "The router itself",
        "devices": "Devices",
        "no_devices": "No devices seen yet.",
        "online": "online",
        "offline": "offline",
        "connection": "Connection",
        "state_ok": "OK",
        "state_warned": "Nearly used up",
        "state_throttled": "Throttled",
        "state_blocked": "Blocked",
        "state_exempt": "Exempt",
        "no_cap": "no cap",
        "up": "Up",
        "down": "Down",
        "this_period": "This period",
        "lifetime": "Lifetime",
        "addresses": "Addresses",
        "hostname": "Hostname",
        "group": "Group",
        "none": "(none)",
        "name": "Name",
        "exempt": "Exempt: never cut off",
        "save": "Save",
        "saved": "Saved.",
        "not_saved": "Not saved:",
        "settings": "Settings",
        "cap": "Cap",
        "size": "Size, e.g. 1GB or 500MB",
        "period": "Period",
        "period_daily": "Daily",
        "period_weekly": "Weekly",
        "period_monthly": "Monthly",
        "period_days": "N days from a start",
        "period_none": "Never resets",
        "reset_day": "Reset day (month: 1-31, week: 1 = Monday)",
        "start": "Start (for N days)",
        "days": "Days",
        "action": "When reached",
        "action_block": "Block",
        "action_throttle": "Throttle",
        "action_notify": "Only notify",
        "throttle": "Throttle rate, e.g. 256kbit",
        "remove_cap": "Remove cap",
        "topup": "Top up",
        "topup_size": "Add, e.g. 500MB",
        "reset_usage": "Reset this period's usage",
        "block_now": "Block now",
        "unblock": "Unblock",
        "history_hours": "Last 48 hours",
        "history_days": "Last 30 days",
        "limits": "Limits",
        "scope_device": "Own cap",
        "scope_default": "Default cap for new devices",
        "scope_group": "Group cap",
        "scope_plan": "Data plan",
        "resets_at": "resets {when}",
        "never_resets": "does not reset",
        "members": "Members",
        "new_group": "New group",
        "group_id": "Id: letters, digits, _ or -",
        "delete": "Delete",
        "no_groups": "No groups yet.",
        "no_alerts": "No alerts.",
        "alert_kind_threshold": "Cap",
        "alert_kind_unusual_rate": "Unusual rate",
        "alert_kind_unusual_hour": "Unusual hour",
        "alert_subject_plan": "The plan",
        "alert_subject_group": "Group {name}'s cap",
        "alert_subject_device": "{name}'s cap",
        "alert_threshold": "{subject} is {level}% used ({used} of {total}).",
        "alert_used_up": "{subject} is used up ({used} of {total}).",
        "alert_unusual_rate": "{name} moved {recent} in the last {minutes} minutes, over {factor} times its usual rate ({usual} an hour).",
        "alert_unusual_hour": "{name} moved {recent} in the last {minutes} minutes at {hour:02d}:00, an hour it is normally idle.",
        "pause_hour": "Pause 1 hour",
        "set_cap": "Set a cap",
        "tokens_intro": "Scripts send a token as the header Authorization: Bearer <token>.",
        "label": "Label",
        "create": "Create",
        "created": "Created",
        "revoke": "Revoke",
        "no_tokens": "No tokens.",
        "token_once": "Copy this token now; it will not be shown again:",
        "plan_settings": "Plan settings",
        "quota": "Quota, e.g. 20GB",
        "remove_plan": "Remove the plan",
        "me_title": "Your data usage",
        "me_unknown": "The router does not know this device yet. Use the internet for a moment, then reload this page.",
        "me_no_limit": "No limit applies to this device.",
        "rate_now": "Right now",
        "blocked_title": "Data quota reached",
        "blocked_body": "This device has used up its data allowance, so its internet access is paused.",
        "blocked_ask": "Ask the router's owner for a top-up, or wait for the reset.",
        "admin": "Admin",
        "error_title": "Something went wrong",
        "back": "Back to the start",
        # --- saver ---
        "nav_saver": "Data saver",
        "saver_intro": "Blocked categories are cut off only while traffic leaves by a metered uplink (the eSIM or SIM); "
                       "over hotel Wi-Fi or Ethernet they work. The block follows the addresses the router's DNS gives out: "
                       "a device that looked a name up before may reach it until it asks again.",
        "saver_blocked": "Blocked categories",
        "saver_everyone": "Every device (except exempt ones)",
        "saver_group": "{name} (group)",
        "saver_device_hint": "One device's own switches are on its page.",
        "saver_lists": "Category lists",
        "saver_lists_hint": "Each domain also covers its subdomains.",
        "saver_domains": "{n} domains",
        "saver_origin_added": "your own",
        "saver_origin_changed": "changed",
        "saver_remove": "Remove {name}",
        "saver_add": "Add a category",
        "saver_name_example": "Games",
        "saver_domains_field": "Domains",
        "saver_domains_hint": "One per line (or separated by spaces or commas), e.g. steamcontent.com; each covers its subdomains.",
        "saver_add_button": "Add",
        "saver_device_intro": "Categories blocked for this device alone, while the uplink is metered.",
        "saver_also_everyone": "(blocked for every device)",
        "saver_also_group": "(blocked for its group)",
        "saver_more": "All categories and groups",
        "category_os_updates": "OS updates",
        "category_app_stores": "App stores",
        "category_cloud_backup": "Cloud backup",
        "category_ads_trackers": "Ads and trackers",
        "category_video": "Video",
    },
    "zh-CN": {
        "nav_dashboard": "概览",
        "nav_groups": "分组",
        "nav_plan": "套餐",
        "nav_alerts": "提醒",
        "nav_tokens": "API 令牌",
        "nav_me": "我的用量",
        "logout": "退出登录",
        "login": "登录",
        "login_title": "管理员登录",
        "password": "密码",
        "no_password_title": "管理页面尚未开放",
        "no_password_body": "还没有设置管理员密码，因此无人可以登录。请在路由器上运行：",
        "no_password_after": "然后刷新本页。",
        "plan": "流量套餐",
        "no_plan": "尚未配置流量套餐。",
        "used_of": "已用 {used}，共 {total}",
        "left_amount": "剩余 {left}",
        "used": "已用",
        "allowance": "总量",
        "left": "剩余",
        "period_ends": "周期结束",
        "forecast_until": "按当前速度，套餐可用到 {when}。",
        "forecast_past": "按当前速度，套餐可以用到下次重置之后。",
        "forecast_idle": "当前没有流量在使用。",
        "forecast_gone": "套餐流量已用完。",
        "carrier_count": "运营商计数（SNMP）",
        "router_own": "路由器自身",
        "devices": "设备",
        "no_devices": "尚未发现设备。",
        "online": "在线",
        "offline": "离线",
        "connection": "连接",
        "state_ok": "正常",
        "state_warned": "即将用完",
        "state_throttled": "已限速",
        "state_blocked": "已断网",
        "state_exempt": "不受限",
        "no_cap": "无上限",
        "up": "上传",
        "down": "下载",
        "this_period": "本周期",
        "lifetime": "累计",
        "addresses": "地址",
        "hostname": "主机名",
        "group": "分组",
        "none": "（无）",
        "name": "名称",
        "exempt": "豁免：永不断网",
        "save": "保存",
        "saved": "已保存。",
        "not_saved": "未保存：",
        "settings": "设置",
        "cap": "流量上限",
        "size": "大小，如 1GB 或 500MB",
        "period": "周期",
        "period_daily": "每天",
        "period_weekly": "每周",
        "period_monthly": "每月",
        "period_days": "自开始日起 N 天",
        "period_none": "不重置",
        "reset_day": "重置日（每月 1-31，每周 1 = 周一）",
        "start": "开始时间（N 天套餐）",
        "days": "天数",
        "action": "达到上限后",
        "action_block": "断网",
        "action_throttle": "限速",
        "action_notify": "仅提醒",
        "throttle": "限速速率，如 256kbit",
        "remove_cap": "取消上限",
        "topup": "追加流量",
        "topup_size": "追加，如 500MB",
        "reset_usage": "清零本周期用量",
        "block_now": "立即断网",
        "unblock": "恢复上网",
        "history_hours": "最近 48 小时",
        "history_days": "最近 30 天",
        "limits": "限制",
        "scope_device": "自身上限",
        "scope_default": "新设备默认上限",
        "scope_group": "分组上限",
        "scope_plan": "流量套餐",
        "resets_at": "{when} 重置",
        "never_resets": "不会重置",
        "members": "成员",
        "new_group": "新建分组",
        "group_id": "标识：字母、数字、_ 或 -",
        "delete": "删除",
        "no_groups": "暂无分组。",
        "no_alerts": "暂无提醒。",
        "alert_kind_threshold": "上限",
        "alert_kind_unusual_rate": "用量异常",
        "alert_kind_unusual_hour": "异常时段",
        "alert_subject_plan": "流量套餐",
        "alert_subject_group": "分组 {name} 的上限",
        "alert_subject_device": "{name} 的上限",
        "alert_threshold": "{subject}已用 {level}%（已用 {used}，共 {total}）。",
        "alert_used_up": "{subject}已用完（已用 {used}，共 {total}）。",
        "alert_unusual_rate": "{name} 最近 {minutes} 分钟用了 {recent}，是平时速率（每小时 {usual}）的 {factor} 倍以上。",
        "alert_unusual_hour": "{name} 在平时空闲的 {hour:02d}:00 时段，最近 {minutes} 分钟用了 {recent}。",
        "pause_hour": "暂停 1 小时",
        "set_cap": "设置上限",
        "tokens_intro": "脚本以请求头 Authorization: Bearer <令牌> 发送令牌。",
        "label": "标签",
        "create": "创建",
        "created": "创建时间",
        "revoke": "撤销",
        "no_tokens": "暂无令牌。",
        "token_once": "请立即复制此令牌，它不会再次显示：",
        "plan_settings": "套餐设置",
        "quota": "流量，如 20GB",
        "remove_plan": "删除套餐",
        "me_title": "您的流量用量",
        "me_unknown": "路由器还没有识别出此设备。请先上网片刻，然后刷新本页。",
        "me_no_limit": "此设备不受流量限制。",
        "rate_now": "当前速率",
        "blocked_title": "流量已用完",
        "blocked_body": "此设备的流量额度已经用完，网络访问已暂停。",
        "blocked_ask": "如需更多流量，请联系路由器的主人，或等待重置。",
        "admin": "管理",
        "error_title": "出错了",
        "back": "返回首页",
        # --- saver ---
        "nav_saver": "省流量",
        "saver_intro": "所选类别只在经由按流量计费的上行链路（eSIM 或 SIM 卡）上网时被拦截；连酒店 Wi-Fi 或网线时照常可用。"
                       "拦截按路由器 DNS 给出的地址生效：拦截前已查询过某个域名的设备，在重新查询之前可能仍能访问它。",
        "saver_blocked": "拦截的类别",
        "saver_everyone": "所有设备（不受限的设备除外）",
        "saver_group": "分组“{name}”",
        "saver_device_hint": "单个设备的开关在该设备的页面上。",
        "saver_lists": "类别清单",
        "saver_lists_hint": "每个域名也包括它的子域名。",
        "saver_domains": "{n} 个域名",
        "saver_origin_added": "自定义",
        "saver_origin_changed": "已修改",
        "saver_remove": "删除“{name}”",
        "saver_add": "添加类别",
        "saver_name_example": "游戏",
        "saver_domains_field": "域名",
        "saver_domains_hint": "每行一个（也可用空格或逗号分隔），如 steamcontent.com；子域名一并包括。",
        "saver_add_button": "添加",
        "saver_device_intro": "仅对此设备拦截的类别，在经由按流量计费的上行链路上网时生效。",
        "saver_also_everyone": "（已对所有设备拦截）",
        "saver_also_group": "（已对所在分组拦截）",
        "saver_more": "全部类别与分组",
        "category_os_updates": "系统更新",
        "category_app_stores": "应用商店",
        "category_cloud_backup": "云备份",
        "category_ads_trackers": "广告与跟踪",
        "category_video": "视频",
    },
}


def pick() -> str:
    """The cookie's language, else the browser's best match, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in MESSAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default=DEFAULT)
    return "zh-CN" if best.startswith("zh") else "en"


def translate(key: str, **values: object) -> str:
    text = MESSAGES[g.get("lang", DEFAULT)][key]
    return text.format(**values) if values else text


def alert_text(alert: dict) -> str:
    """An alert in the reader's language, from what it is about; the stored English sentence when that is unknown."""
    params, kind = alert.get("params") or {}, alert.get("kind")
    try:
        if kind == "threshold":
            subject = translate(f"alert_subject_{params['subject']}", name=params.get("name"))
            key = "alert_used_up" if params["level"] >= 100 else "alert_threshold"
            return translate(key, subject=subject, level=params["level"], used=format_size(params["used"]),
                             total=format_size(params["allowance"]))
        if kind in ("unusual_rate", "unusual_hour"):
            return translate(f"alert_{kind}", name=params["name"], recent=format_size(params["recent"]),
                             minutes=params["minutes"], usual=format_size(params["usual"]), factor=params["factor"],
                             hour=params.get("hour", 0))
    except (KeyError, TypeError, ValueError):
        pass
    return alert.get("message", "")


def alert_kind(kind: str) -> str:
    """An alert's kind as a word of the reader's language (the raw kind when it is new to us)."""
    key = f"alert_kind_{kind}"
    return translate(key) if key in MESSAGES[g.get("lang", DEFAULT)] else kind


bp = Blueprint("i18n", __name__)


@bp.get("/lang/<code>")
def switch(code: str) -> Response:
    """Set the language cookie and go back; only local paths, never an open redirect."""
    response = redirect(local_path(request.args.get("next")), 303)
    if code in MESSAGES:
        response.set_cookie(COOKIE, code, max_age=COOKIE_AGE, samesite="Lax", httponly=True)
    return response


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    app.add_template_filter(alert_text, "alert_text")
    app.add_template_filter(alert_kind, "alert_kind")

    @app.before_request
    def choose() -> None:
        g.lang = pick()

    @app.context_processor
    def words() -> dict:
        return {"_": translate, "lang": g.get("lang", DEFAULT), "languages": LANGUAGES}
