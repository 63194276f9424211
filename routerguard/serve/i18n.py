"""Every word of the pages in English and Simplified Chinese, in one place.

A dict per language rather than a gettext toolchain: a router has no room
for one, and a translator edits one file. The browser's Accept-Language
picks; the switch on every page sets a cookie that wins from then on.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, g, redirect, request
from werkzeug.exceptions import HTTPException

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
        "period_ends": "Period ends: {when}",
        "forecast_until": "At this rate the plan lasts until {when}.",
        "forecast_past": "At this rate the plan lasts past the reset.",
        "forecast_idle": "Nothing is being used right now.",
        "forecast_gone": "The plan is used up.",
        "carrier_count": "WAN port count (SNMP)",
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
        "exempt": "Exempt: never blocked or throttled",
        "save": "Save",
        "saved": "Saved.",
        "not_saved": "Not saved: {reason}",
        "settings": "Settings",
        "cap": "Cap",
        "size": "Size, e.g. 1GB or 500MB (1 GB = 1000 MB)",
        "period": "Period",
        "period_daily": "Daily",
        "period_weekly": "Weekly",
        "period_monthly": "Monthly",
        "period_days": "Valid N days from a start",
        "period_none": "Never resets",
        "reset_day": "Reset day (monthly: 1 to 31; weekly: 1 = Monday)",
        "start": "Start (for N days)",
        "days": "Number of days",
        "action": "When reached",
        "action_block": "Block",
        "action_throttle": "Throttle",
        "action_notify": "Only notify",
        "throttle": "Slow down to, e.g. 256kbit or 2mbit",
        "remove_cap": "Remove cap",
        "topup": "Top up",
        "topup_size": "Add, e.g. 500MB",
        "reset_usage": "Reset this period's usage",
        "block_now": "Block now",
        "unblock": "Unblock",
        "history_hours": "Last 48 hours",
        "history_days": "Last 30 days",
        "limits": "Limits that apply",
        "scope_device": "This device's cap",
        "scope_default": "Default cap for new devices",
        "scope_group": "Group cap",
        "scope_plan": "Data plan",
        "resets_at": "resets {when}",
        "never_resets": "never resets",
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
        "tokens_intro": "Scripts send the token in a request header:",
        "label": "Label",
        "create": "Create",
        "created": "created {when}",
        "revoke": "Revoke",
        "no_tokens": "No tokens.",
        "token_once": "Copy this token now; it will not be shown again:",
        "plan_settings": "Plan settings",
        "quota": "Quota, e.g. 20GB (1 GB = 1000 MB)",
        "remove_plan": "Remove the plan",
        "me_title": "Your data usage",
        "me_unknown": "The router does not know this device yet. Use the internet for a moment, then reload this page.",
        "me_no_limit": "No limit applies to this device.",
        "rate_now": "Right now",
        "blocked_title": "Data quota reached",
        "blocked_body": "This device has used up its data allowance, so its internet access is paused.",
        "blocked_ask": "Ask the router's owner for a top-up, or wait for the reset.",
        "admin": "Admin",
        "error_title": "Something went wrong ({status})",
        "back": "Back to the start",
        # --- eaten ---
        "eaten_title": "What used the data",
        "eaten_dash_title": "Where the data went",
        "eaten_me_title": "What used your data",
        "eaten_by_name": "By name looked up",
        "eaten_by_category": "By category",
        "eaten_by_service": "By service",
        "eaten_top_devices": "Biggest devices",
        "eaten_none": "No traffic this period yet.",
        "eaten_more": "{count} more",
        "eaten_other": "Other names (beyond the top 50)",
        "eaten_uncategorised": "Not in a category",
        "eaten_address": "an address with no name seen (looked up over encrypted DNS, or not at all)",
        "eaten_since": "Since {when}",
        "eaten_all_time": "Since the first reading",
        "eaten_share_note": "Shares are of {total}, all of this period's traffic.",
        "eaten_limits_title": "What is left",
        # --- notify ---
        "nav_notify": "Notifications",
        "notify_title": "Notifications",
        "notify_when": "When to alert",
        "notify_intro": "Alerts (a cap nearly used up, unusual use) go to every channel set up below.",
        "field_language": "Language of the alerts in chats",
        "notify_chat_title": "routerguard: {kind}",
        "notify_test_message": "This is a test alert from routerguard: alerts will reach this channel.",
        "alert_kind_test": "Test",
        "notify_thresholds": "Alert when a cap or the plan is this % used",
        "notify_thresholds_hint": "Up to 5 percentages, separated by commas, e.g. 80, 95. 100% always alerts.",
        "notify_channels": "Channels",
        "notify_secret_hint": "Tokens, keys and bot addresses show only their last 4 characters: leave them as they are to keep them, clear a field to turn its channel off.",
        "notify_on": "on",
        "notify_test": "Send a test alert",
        "notify_test_hint": "Sending a test alert saves the settings above first, then sends to every channel at once.",
        "notify_results": "Test alert",
        "notify_no_channels": "No channel is set up yet: fill in one below.",
        "notify_sent": "Delivered",
        "notify_failed": "Failed",
        "notify_no_answer": "no answer",
        "channel_webhook": "Webhook (JSON)",
        "channel_ntfy": "ntfy",
        "channel_telegram": "Telegram bot",
        "channel_wecom": "WeCom group bot (企业微信)",
        "channel_dingtalk": "DingTalk group bot (钉钉)",
        "channel_feishu": "Feishu / Lark group bot (飞书)",
        "channel_bark": "Bark (iPhone)",
        "field_webhook": "Webhook URL",
        "field_ntfy": "ntfy topic URL",
        "field_telegram_token": "Bot token",
        "field_telegram_chat": "Chat id",
        "field_telegram_api": "API server",
        "field_wecom": "Webhook URL",
        "field_dingtalk": "Webhook URL",
        "field_dingtalk_secret": "Signing secret (optional)",
        "field_feishu": "Webhook URL",
        "field_feishu_secret": "Signing secret (optional)",
        "field_bark_key": "Device key",
        "field_bark": "Server",
        # --- uplinks ---
        "uplinks": "Uplinks",
        "uplink_in_use": "In use",
        "uplink_metered": "Metered",
        "uplink_unmetered": "Unmetered",
        "uplink_link_up": "Link up",
        "uplink_no_link": "No link",
        "uplink_in_use_since": "In use since {when}",
        "uplink_idle_since": "Not in use since {when}",
        "uplink_up": "Sent {size}",
        "uplink_down": "Received {size}",
        "uplink_bytes_note": "Counted by each interface itself since routerguard started: all traffic through it, "
                             "the router's own included.",
        # --- zh: wording shared by the templates, and every error a page can show ---
        "pair": "{label}: {value}",
        "colon": "{label}:",
        "list_sep": ", ",
        "range": "{start} to {end}",
        "paren": "({text})",
        "token_word": "token",
        "term_size": "size",
        "term_bytes": "size",
        "term_rate": "rate",
        "term_duration": "duration",
        "term_throttle": "throttle rate",
        "term_throttle_kbit": "throttle rate",
        "term_reset_day": "reset day",
        "term_reset_hour": "reset hour",
        "term_days": "days",
        "term_start": "start",
        "term_period": "period",
        "term_action": "when reached",
        "term_members": "members",
        "term_name": "name",
        "error_field_reason": "{field}: {reason}",
        "error_not_a_quantity": "'{text}' is not a {what}: write a number and a unit, e.g. {examples}.",
        "error_unknown_unit": "'{text}': unknown unit '{unit}'; valid units: {valid}.",
        "error_rate_zero": "'{text}': a rate must be above zero.",
        "error_not_a_number": "'{text}' is not a whole number.",
        "error_not_whole": "'{value}' is not a whole number; expected {low} to {high}.",
        "error_out_of_range": "{value} is out of range; expected {low} to {high}.",
        "error_not_a_choice": "'{value}' is not one of the choices.",
        "error_not_a_moment": "'{value}' is not a date and time like 2026-11-20 09:00.",
        "error_missing": "required.",
        "error_missing_with_days": "required when the period is N days.",
        "error_throttle_needs_rate": "to throttle, also say how far to slow down, e.g. 256kbit.",
        "error_not_a_mac": "'{text}' is not a MAC address; write it like 02:00:00:00:00:0a.",
        "error_no_device": "There is no device {mac}: it has not been seen on the LAN nor configured.",
        "error_no_group": "There is no group '{gid}'.",
        "error_no_token": "There is no token '{tid}'.",
        "error_no_such_group": "Group '{gid}' does not exist.",
        "error_bad_name": "A name must not be empty and has at most {most} characters.",
        "error_bad_topup": "Enter how much to add (at most 1000 TB).",
        "error_topup_without_cap": "This device has no cap of its own to top up: set a cap first (or top up its group).",
        "error_bad_group_id": "A group id is 1 to 32 letters, digits, _ or -.",
        "error_long_label": "A label has at most {most} characters.",
        "error_config_refused": "That change would make the config file invalid: {problems}",
        "error_config_broken": "The config file has problems of its own; fix them first: {problems}",
        "error_wrong_password": "That was the wrong password.",
        "error_too_many_tries": "Too many wrong tries from this device; try again in {seconds} seconds.",
        "error_no_password": "No admin password is set yet: run routerguard passwd on the router.",
        "error_log_in_first": "Log in first.",
        "error_csrf": "This page has expired: reload it and try again.",
        "error_host_check": "This router answers only to its own addresses and names.",
        "error_body_too_large": "What was sent is too large (at most {kib} KiB).",
        "error_http_400": "The router did not understand the request.",
        "error_http_401": "Log in first.",
        "error_http_403": "That is not allowed.",
        "error_http_404": "There is no such page.",
        "error_http_405": "This address does not take that kind of request.",
        "error_http_409": "That conflicts with the router's current state.",
        "error_http_413": "What was sent is too large.",
        "error_http_422": "What was sent is not valid.",
        "error_http_429": "Too many requests; try again in a moment.",
        "error_http_500": "The router hit an internal error; try again in a moment.",
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
        # --- fw4 (flow offloading) ---
        "offload_title": "Flow offloading is on",
        "offload_text": "The router's firewall offloads connections: once a connection is established its packets skip "
                        "the rules that count them, so caps are not cut at the byte and throttling does not hold. "
                        "A device over its cap is blocked at the next reading and its connections are ended a second "
                        "later.",
        "offload_hw_text": "The router's firewall offloads connections to the hardware: their packets skip the rules "
                           "that count them, and the counts themselves may stop, so usage can be missed and caps do not "
                           "hold.",
        "offload_fix": "For exact caps, turn it off on the router:",
        "offload_found": "Found: {found}",
        # --- guard ---
        "nav_security": "Security",
        "two_factor_title": "Two-factor login",
        "two_factor_is_on": "Two-factor login is on: logging in needs the password and a code from the authenticator app.",
        "two_factor_is_off": "Two-factor login is off. With it on, logging in needs a 6-digit code from an authenticator app on your phone as well as the password.",
        "two_factor_start": "Turn on two-factor login",
        "two_factor_scan": "Scan this QR code with an authenticator app (Google Authenticator, Microsoft Authenticator, FreeOTP…), then type the 6-digit code it shows.",
        "two_factor_qr_alt": "QR code of the two-factor key",
        "two_factor_key": "Or type this key into the app:",
        "two_factor_confirm": "Check the code and turn on",
        "two_factor_enabled": "Two-factor login is on. Every other session has ended.",
        "two_factor_disable": "Turn off two-factor login",
        "two_factor_disabled": "Two-factor login is off. Every other session has ended.",
        "recovery_title": "Recovery codes",
        "recovery_once": "Write these codes down now and keep them away from the phone: each one logs in once in place of a code from the app. They are not shown again.",
        "recovery_left": "({count} recovery codes left)",
        "password_change": "Change the admin password",
        "password_current": "Current password",
        "password_new": "New password",
        "password_again": "New password again",
        "password_change_button": "Change password",
        "password_changed": "Password changed. Every other session has ended.",
        "password_ends_sessions": "Changing the password or two-factor login logs out every other browser.",
        "sessions_title": "Sessions",
        "sessions_intro": "Log out every browser that is logged in to this page, except this one.",
        "sessions_end_all": "Log out everywhere else",
        "sessions_ended": "Every other session has ended.",
        "otp_code": "Code from the authenticator app",
        "otp_code_help": "6 digits; or one of your recovery codes.",
        "error_otp_missing": "Two-factor login is on: also type the code from the authenticator app (or a recovery code).",
        "error_otp_wrong": "That code is wrong or was already used; type the code the app shows now.",
        "error_otp_secret": "That is not a valid two-factor key; start again.",
        "error_cross_site": "This request came from another site's page; log in from the router's own page.",
        "error_login_json": "Send the login as JSON.",
        "error_passwords_differ": "The two new passwords differ.",
        "error_password_short": "The password is too short: use at least {most} characters.",
        "error_name_control": "Names cannot contain line breaks or control characters.",
        "error_too_many_tries_everyone": "Too many wrong tries from many devices: every login waits {seconds} seconds. The router's command line still works.",
        # --- topups: a group's and the plan's top-ups, the plan's calibration to the carrier's figure ---
        "calib_title": "Top up or match the carrier",
        "plan_topup_size": "Add to the plan, e.g. 1GB",
        "calib_intro": "What the carrier's app or USSD says now",
        "calib_said_used": "Used",
        "calib_said_left": "Left",
        "calib_size": "Amount, e.g. 7.2GB",
        "calib_button": "Match the carrier",
        "calib_carrier_says": "Carrier says",
        "calib_since": "matched {when}",
        "calib_we_counted": "We counted",
        "calib_difference": "Difference",
        "calib_vs_carrier": "Carrier minus ours",
        "term_used_bytes": "amount used",
        "term_left_bytes": "amount left",
        "error_group_topup_without_cap": "Group '{gid}' has no cap to top up: give it a cap first.",
        "error_topup_without_plan": "There is no plan to top up: set the plan first.",
        "error_calibrate_one_of": "Give one figure: what the carrier says is used, or what it says is left.",
        "error_bad_calibration": "Enter the {field} as a size (at most 1000 TB).",
        "error_calibrate_left_without_plan": "Without a plan nothing can be left of it: set the plan first, or enter what is used.",
        "error_calibrate_left_over_allowance": "That is more than the plan's allowance ({size}): raise the plan's quota or "
                                               "top it up first.",
        # --- the plan as eSIM bundles ---
        "bundles": "Bundles",
        "period_bundles": "bundles",
        "bundle_state_active": "active",
        "bundle_state_exhausted": "used up",
        "bundle_state_expired": "expired",
        "bundle_state_future": "not started",
        "bundle_left_until": "{left} left · expires {when}",
        "bundle_left_today": "{left} left today · today's share lapses {when} · ends {end}",
        "bundle_starts": "starts {when}",
        "bundle_ended": "ended {when}",
        "bundle_daily": "{size} a day × {days} days",
        "bundle_quota_days": "{size} · valid {days} d",
        "bundle_recurring": "the plan, renewed each period",
        "bundle_price": "cost {price} {currency}",
        "bundle_used_of": "{used} of {total} used",
        "bundle_add": "Add a bundle",
        "bundle_add_hint": "An add-on or a new pack, as the carrier sold it; it counts from now.",
        "bundle_size": "Size",
        "bundle_days_field": "Valid (days)",
        "bundle_name_field": "Name (optional)",
        "bundle_name_example": "Add-on 5 GB",
        "bundle_daily_switch": "Day pack: this much each day, unused data lapses at midnight",
        "bundle_price_field": "Price (optional)",
        "bundle_currency_field": "Currency",
        "bundle_currency_example": "PKR",
        "bundle_add_button": "Add",
        "bundle_remove": "Remove {name}",
        "bundles_none": "No bundles yet: add the one you bought below.",
        "bundles_forecast": "At this rate the bundles run out {when}.",
        "bundles_forecast_idle": "Nothing is being used now.",
        "bundles_forecast_gone": "Every bundle is used up or expired: add one to get back online.",
        "bundles_unused": "{size} will expire unused at this rate.",
        "costs": "Splitting the bill",
        "costs_hint": "Each device's data from each priced bundle, at that bundle's price per byte; the router's own traffic is its own line.",
        "costs_none": "No priced bundle has been used yet.",
        "costs_router": "The router itself",
        "costs_group": "Group {name}",
        "costs_csv": "Download as CSV",
        "alert_kind_bundle": "Bundle",
        "alert_bundle_expiring": "Bundle {name} expires in {hours} h with {left} left ({percent}%): use it or lose it.",
        "alert_bundle_ran_out": "The last active bundle ({name}) ran out: the plan has nothing left until a bundle is added.",
        "term_quota_bytes": "size",
        "term_daily_bytes": "daily size",
        "term_price": "price",
        "term_currency": "currency",
        "term_id": "id",
        "term_to": "end",
        "error_bundle_quota_or_daily": "give a size for the whole validity or a size a day, not both.",
        "error_bundle_needs_size": "required: a size for the whole validity, or a size a day.",
        "error_not_a_price": "{value} is not a price; write a number like 700 or 4.99.",
        "error_too_many_decimals": "{value} has more than {places} decimals.",
        "error_not_a_currency": "{value} is not a currency; write three letters like PKR, EUR or CNY.",
        "error_price_needs_currency": "required with a price.",
        "error_no_bundle": "There is no bundle {bid}.",
        "error_bad_bundle_id": "{value}: use 1 to 32 letters, digits, _ or -.",
        # --- guard (network half: new devices, unusual use, no way around a cut) ---
        "scope_newcomers": "Shared allowance of unknown devices",
        "alert_kind_new_device": "New device",
        "alert_kind_borrowed_mac": "Borrowed MAC",
        "alert_new_device": "New device {name} joined the network at {address}.",
        "alert_borrowed_mac_hostname": "Device {mac} appeared with the hostname {value} of {other_name}: another device may be using its MAC address.",
        "alert_borrowed_mac_client_id": "Device {mac} appeared with the DHCP client id {value} of {other_name}: another device may be using its MAC address.",
        "alert_done_throttle": "Slowed to {kbit} kbit/s for 1 hour.",
        "alert_done_pause": "Paused for 1 hour.",
        "approved": "Approved",
        "not_approved": "Waiting for approval",
        "approve": "Approve",
        "approve_hint": "This device has no internet until you approve it; it still gets an address, names and this page.",
        "undo": "Undo",
        "throttled_until": "Slowed down until {when}",
        "error_bad_approved": "Approved must be true or false.",
        "error_bad_throttled": "Throttled can only be set to false (it lifts a slow-down after unusual use).",
        # --- free uplinks first ---
        "alert_kind_uplink": "Uplink",
        "alert_uplink_metered": "Traffic moved to the metered uplink {to}: {was} has no working internet{why}.",
        "alert_uplink_captive": " (a captive portal answers: log in there)",
        "alert_uplink_back": "Traffic is back on the unmetered uplink {to}; the metered uplink {was} is spared.",
        "uplink_internet": "Internet works",
        "uplink_no_internet": "No internet",
        "uplink_captive": "Login page (captive portal)",
        "uplink_probes": "Probes: {count}, {size} (free uplink only; under 1 MB a day)",
        "metered_access": "May use mobile data (metered uplinks)",
        "metered_access_hint": "Unticked: this device only goes online over Wi-Fi or Ethernet, so its backups and "
                               "updates wait for a free uplink.",
        "metered_refused_admin": "Offline now: the router is on mobile data.",
        "me_no_metered_access": "This device does not use mobile data: it goes online over free Wi-Fi only.",
        "me_metered_refused": "The router is on mobile data now, so this device is offline until free Wi-Fi works again.",
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
        "no_password_body": "还没有设置管理员密码，暂时无法登录。请在路由器上运行：",
        "no_password_after": "然后刷新本页。",
        "plan": "流量套餐",
        "no_plan": "尚未设置流量套餐。",
        "used_of": "已用 {used}，共 {total}",
        "left_amount": "剩余 {left}",
        "used": "已用",
        "allowance": "总量",
        "left": "剩余",
        "period_ends": "本周期结束：{when}",
        "forecast_until": "按当前速度，套餐流量可用到 {when}。",
        "forecast_past": "按当前速度，套餐流量可以用到下次重置之后。",
        "forecast_idle": "当前没有在用流量。",
        "forecast_gone": "套餐流量已用完。",
        "carrier_count": "WAN 口计数（SNMP）",
        "router_own": "路由器自身",
        "devices": "设备",
        "no_devices": "尚未发现设备。",
        "online": "在线",
        "offline": "离线",
        "connection": "连接状态",
        "state_ok": "正常",
        "state_warned": "即将用完",
        "state_throttled": "已限速",
        "state_blocked": "已断网",
        "state_exempt": "不受限",
        "no_cap": "无上限",
        "up": "上传",
        "down": "下载",
        "this_period": "本周期",
        "lifetime": "累计用量",
        "addresses": "IP 地址",
        "hostname": "主机名",
        "group": "分组",
        "none": "（无）",
        "name": "名称",
        "exempt": "不受限：永不断网或限速",
        "save": "保存",
        "saved": "已保存。",
        "not_saved": "未保存：{reason}",
        "settings": "设置",
        "cap": "流量上限",
        "size": "上限，如 1GB 或 500MB（1 GB = 1000 MB）",
        "period": "周期",
        "period_daily": "每天",
        "period_weekly": "每周",
        "period_monthly": "每月",
        "period_days": "有效期 N 天（自开始时间起）",
        "period_none": "永不重置",
        "reset_day": "重置日（每月：1 至 31；每周：1 = 周一）",
        "start": "开始时间（有效期 N 天时）",
        "days": "天数",
        "action": "达到上限后",
        "action_block": "断网",
        "action_throttle": "限速",
        "action_notify": "仅提醒",
        "throttle": "限速到，如 256kbit 或 2mbit",
        "remove_cap": "取消上限",
        "topup": "追加流量",
        "topup_size": "追加多少，如 500MB",
        "reset_usage": "清零本周期用量",
        "block_now": "立即断网",
        "unblock": "恢复上网",
        "history_hours": "最近 48 小时",
        "history_days": "最近 30 天",
        "limits": "适用的流量上限",
        "scope_device": "本设备上限",
        "scope_default": "新设备默认上限",
        "scope_group": "分组上限",
        "scope_plan": "流量套餐",
        "resets_at": "{when} 重置",
        "never_resets": "永不重置",
        "members": "成员",
        "new_group": "新建分组",
        "group_id": "标识：字母、数字、_ 或 -",
        "delete": "删除",
        "no_groups": "暂无分组。",
        "no_alerts": "暂无提醒。",
        "alert_kind_threshold": "流量上限",
        "alert_kind_unusual_rate": "用量异常",
        "alert_kind_unusual_hour": "异常时段",
        "alert_subject_plan": "流量套餐",
        "alert_subject_group": "分组 {name} 的流量额度",
        "alert_subject_device": "{name} 的流量额度",
        "alert_threshold": "{subject}已用 {level}%（已用 {used}，共 {total}）。",
        "alert_used_up": "{subject}已用完（已用 {used}，共 {total}）。",
        "alert_unusual_rate": "{name} 最近 {minutes} 分钟用了 {recent}，超过平时速率（每小时 {usual}）的 {factor} 倍。",
        "alert_unusual_hour": "{name} 在 {hour:02d}:00 这个平时空闲的时段，最近 {minutes} 分钟用了 {recent}。",
        "pause_hour": "断网 1 小时",
        "set_cap": "设置上限",
        "tokens_intro": "脚本在请求头中发送令牌：",
        "label": "备注",
        "create": "创建",
        "created": "创建于 {when}",
        "revoke": "撤销",
        "no_tokens": "暂无令牌。",
        "token_once": "请立即复制此令牌，它不会再次显示：",
        "plan_settings": "套餐设置",
        "quota": "套餐流量，如 20GB（1 GB = 1000 MB）",
        "remove_plan": "删除套餐",
        "me_title": "您的流量用量",
        "me_unknown": "路由器还没有识别出此设备。请先上网片刻，然后刷新本页。",
        "me_no_limit": "此设备不受流量限制。",
        "rate_now": "当前速率",
        "blocked_title": "流量已用完",
        "blocked_body": "此设备的流量额度已用完，已暂停上网。",
        "blocked_ask": "如需更多流量，请联系路由器管理员，或等待额度重置。",
        "admin": "管理页面",
        "error_title": "出错了（{status}）",
        "back": "返回首页",
        # --- eaten ---
        "eaten_title": "流量用在了哪里",
        "eaten_dash_title": "流量去哪儿了",
        "eaten_me_title": "您的流量用在了哪里",
        "eaten_by_name": "按域名",
        "eaten_by_category": "按类别",
        "eaten_by_service": "按服务",
        "eaten_top_devices": "用量最多的设备",
        "eaten_none": "本周期还没有流量。",
        "eaten_more": "其余 {count} 项",
        "eaten_other": "其他域名（前 50 名以外）",
        "eaten_uncategorised": "未分类",
        "eaten_address": "只有 IP 地址，未见到域名解析（经加密 DNS 查询，或未经查询）",
        "eaten_since": "自 {when} 起",
        "eaten_all_time": "自首次计量起",
        "eaten_share_note": "占比以 {total} 为基数，即本周期计入的全部流量。",
        "eaten_limits_title": "剩余额度",
        # --- notify ---
        "nav_notify": "提醒设置",
        "notify_title": "提醒设置",
        "notify_when": "何时提醒",
        "notify_intro": "提醒（上限快用完、用量异常）会发送到下面设置的每个渠道。",
        "field_language": "聊天提醒的语言",
        "notify_chat_title": "routerguard 提醒：{kind}",
        "notify_test_message": "这是 routerguard 发出的测试提醒：以后的提醒会发到这个渠道。",
        "alert_kind_test": "测试",
        "notify_thresholds": "上限或套餐用到多少百分比时提醒",
        "notify_thresholds_hint": "最多 5 个百分比，用逗号分隔，例如 80, 95。用完（100%）时总会提醒。",
        "notify_channels": "提醒渠道",
        "notify_secret_hint": "令牌、密钥和机器人地址只显示最后 4 个字符：保持不变即保留原值，清空即关闭该渠道。",
        "notify_on": "已启用",
        "notify_test": "发送测试提醒",
        "notify_test_hint": "发送测试提醒前会先保存以上设置，然后立即发送到每个渠道。",
        "notify_results": "测试提醒",
        "notify_no_channels": "尚未设置任何渠道，请在下面填写一个。",
        "notify_sent": "已送达",
        "notify_failed": "发送失败",
        "notify_no_answer": "无应答",
        "channel_webhook": "Webhook（JSON）",
        "channel_ntfy": "ntfy",
        "channel_telegram": "Telegram 机器人",
        "channel_wecom": "企业微信群机器人",
        "channel_dingtalk": "钉钉群机器人",
        "channel_feishu": "飞书群机器人",
        "channel_bark": "Bark（iPhone）",
        "field_webhook": "Webhook 地址",
        "field_ntfy": "ntfy 主题地址",
        "field_telegram_token": "机器人令牌",
        "field_telegram_chat": "会话 ID",
        "field_telegram_api": "API 服务器",
        "field_wecom": "Webhook 地址",
        "field_dingtalk": "Webhook 地址",
        "field_dingtalk_secret": "加签密钥（可选）",
        "field_feishu": "Webhook 地址",
        "field_feishu_secret": "签名校验密钥（可选）",
        "field_bark_key": "设备密钥",
        "field_bark": "服务器",
        # --- uplinks ---
        "uplinks": "上行链路",
        "uplink_in_use": "使用中",
        "uplink_metered": "计流量",
        "uplink_unmetered": "不计流量",
        "uplink_link_up": "已连接",
        "uplink_no_link": "未连接",
        "uplink_in_use_since": "{when} 起使用中",
        "uplink_idle_since": "{when} 起未使用",
        "uplink_up": "上传 {size}",
        "uplink_down": "下载 {size}",
        "uplink_bytes_note": "由各接口自身统计，从 routerguard 启动时算起，包括经过该接口的全部流量（含路由器自身的流量）。",
        # --- zh: wording shared by the templates, and every error a page can show ---
        "pair": "{label}：{value}",
        "colon": "{label}：",
        "list_sep": "、",
        "range": "{start} 至 {end}",
        "paren": "（{text}）",
        "token_word": "令牌",
        "term_size": "流量大小",
        "term_bytes": "流量大小",
        "term_rate": "速率",
        "term_duration": "时长",
        "term_throttle": "限速",
        "term_throttle_kbit": "限速",
        "term_reset_day": "重置日",
        "term_reset_hour": "重置时刻",
        "term_days": "天数",
        "term_start": "开始时间",
        "term_period": "周期",
        "term_action": "达到上限后",
        "term_members": "成员",
        "term_name": "名称",
        "error_field_reason": "{field}：{reason}",
        "error_not_a_quantity": "“{text}” 不是有效的{what}，请写数字加单位，如 {sample}。",
        "error_unknown_unit": "“{text}” 的单位 “{unit}” 无法识别，可用的单位：{valid}。",
        "error_rate_zero": "“{text}”：速率必须大于零。",
        "error_not_a_number": "“{text}” 不是整数。",
        "error_not_whole": "“{value}” 不是整数，应为 {low} 至 {high}。",
        "error_out_of_range": "{value} 超出范围，应为 {low} 至 {high}。",
        "error_not_a_choice": "“{value}” 不是可选的值。",
        "error_not_a_moment": "“{value}” 不是有效的日期时间，应如 2026-11-20 09:00。",
        "error_missing": "必填。",
        "error_missing_with_days": "周期为“有效期 N 天”时必填。",
        "error_throttle_needs_rate": "选择限速时，还要填写限速到多少，如 256kbit。",
        "error_not_a_mac": "“{text}” 不是 MAC 地址，应如 02:00:00:00:00:0a。",
        "error_no_device": "没有设备 {mac}：它既没有在局域网中出现过，也没有设置过。",
        "error_no_group": "没有分组 “{gid}”。",
        "error_no_token": "没有令牌 “{tid}”。",
        "error_no_such_group": "分组 “{gid}” 不存在。",
        "error_bad_name": "名称不能为空，最多 {most} 个字符。",
        "error_bad_topup": "请填写要追加的流量（最多 1000 TB）。",
        "error_topup_without_cap": "此设备没有自己的流量上限，无法追加流量：请先设置上限（或给它的分组追加）。",
        "error_bad_group_id": "分组标识须为 1 至 32 个字母、数字、_ 或 -。",
        "error_long_label": "备注最多 {most} 个字符。",
        "error_config_refused": "这项更改会使配置文件无效：{problems}",
        "error_config_broken": "配置文件本身有问题，请先修复：{problems}",
        "error_wrong_password": "密码错误。",
        "error_too_many_tries": "此设备密码或验证码错误次数太多，请 {seconds} 秒后再试。",
        "error_no_password": "还没有设置管理员密码：请在路由器上运行 routerguard passwd。",
        "error_log_in_first": "请先登录。",
        "error_csrf": "页面已过期，请刷新后重试。",
        "error_host_check": "此路由器只响应它自己的地址和名称。",
        "error_body_too_large": "提交的内容太大（最多 {kib} KiB）。",
        "error_http_400": "路由器无法理解这个请求。",
        "error_http_401": "请先登录。",
        "error_http_403": "没有权限这样做。",
        "error_http_404": "找不到这个页面。",
        "error_http_405": "此地址不接受这种请求。",
        "error_http_409": "这与路由器当前的状态冲突。",
        "error_http_413": "提交的内容太大。",
        "error_http_422": "提交的内容无效。",
        "error_http_429": "请求太频繁，请稍后再试。",
        "error_http_500": "路由器内部出错了，请稍后再试。",
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
        # --- fw4 (flow offloading) ---
        "offload_title": "防火墙已开启流量卸载",
        "offload_text": "路由器的防火墙开启了流量卸载：连接建立之后，它的数据包会绕过统计流量的规则，"
                        "因此额度不能精确到字节地断网，限速也不起作用。超出额度的设备要到下一次读数时才被断网，"
                        "它已有的连接约一秒后才被断开。",
        "offload_hw_text": "路由器的防火墙开启了硬件流量卸载：数据包绕过统计流量的规则，"
                           "连计数本身都可能停止，因此用量可能漏记，额度也无法保证。",
        "offload_fix": "如需精确的额度，请在路由器上关闭流量卸载：",
        "offload_found": "检测依据：{found}",
        # --- guard ---
        "nav_security": "安全",
        "two_factor_title": "两步验证登录",
        "two_factor_is_on": "两步验证已开启：登录时除密码外，还需输入身份验证器应用中的验证码。",
        "two_factor_is_off": "两步验证未开启。开启后，登录时除密码外，还需输入手机上身份验证器应用生成的 6 位验证码。",
        "two_factor_start": "开启两步验证",
        "two_factor_scan": "请用身份验证器应用（如 Google 身份验证器、Microsoft Authenticator、FreeOTP）扫描此二维码，然后输入应用显示的 6 位验证码。",
        "two_factor_qr_alt": "两步验证密钥的二维码",
        "two_factor_key": "也可在应用中手动输入此密钥：",
        "two_factor_confirm": "验证并开启",
        "two_factor_enabled": "两步验证已开启，其他会话均已退出。",
        "two_factor_disable": "关闭两步验证",
        "two_factor_disabled": "两步验证已关闭，其他会话均已退出。",
        "recovery_title": "恢复码",
        "recovery_once": "请立即抄下这些恢复码，并与手机分开保存：每个恢复码可代替应用验证码登录一次。恢复码只显示这一次。",
        "recovery_left": "（还剩 {count} 个恢复码）",
        "password_change": "修改管理员密码",
        "password_current": "当前密码",
        "password_new": "新密码",
        "password_again": "再次输入新密码",
        "password_change_button": "修改密码",
        "password_changed": "密码已修改，其他会话均已退出。",
        "password_ends_sessions": "修改密码或两步验证设置后，其他浏览器都会退出登录。",
        "sessions_title": "会话",
        "sessions_intro": "让除本浏览器外所有已登录此页面的浏览器退出登录。",
        "sessions_end_all": "退出其他所有登录",
        "sessions_ended": "其他会话均已退出。",
        "otp_code": "身份验证器应用中的验证码",
        "otp_code_help": "6 位数字；也可输入一个恢复码。",
        "error_otp_missing": "已开启两步验证：还需输入身份验证器应用中的验证码（或一个恢复码）。",
        "error_otp_wrong": "验证码错误或已用过，请输入应用当前显示的验证码。",
        "error_otp_secret": "两步验证密钥无效，请重新开始。",
        "error_cross_site": "此请求来自其他网站的页面，请在路由器自己的页面上登录。",
        "error_login_json": "登录请求须以 JSON 格式发送。",
        "error_passwords_differ": "两次输入的新密码不一致。",
        "error_password_short": "密码太短，至少需要 {most} 个字符。",
        "error_name_control": "名称不能包含换行符或控制字符。",
        "error_too_many_tries_everyone": "多台设备的密码或验证码错误次数太多：所有登录需等待 {seconds} 秒。路由器上的命令行仍可使用。",
        # --- topups: a group's and the plan's top-ups, the plan's calibration to the carrier's figure ---
        "calib_title": "追加流量与校准",
        "plan_topup_size": "给套餐追加多少，如 1GB",
        "calib_intro": "运营商应用（营业厅）或短信查询现在显示的",
        "calib_said_used": "已用",
        "calib_said_left": "剩余",
        "calib_size": "流量，如 7.2GB",
        "calib_button": "按运营商校准",
        "calib_carrier_says": "运营商显示",
        "calib_since": "{when} 校准",
        "calib_we_counted": "路由器统计",
        "calib_difference": "差额",
        "calib_vs_carrier": "与运营商差额",
        "term_used_bytes": "已用流量",
        "term_left_bytes": "剩余流量",
        "error_group_topup_without_cap": "分组 “{gid}” 没有流量上限，无法追加流量：请先给它设置上限。",
        "error_topup_without_plan": "还没有设置套餐，无法追加流量：请先设置套餐。",
        "error_calibrate_one_of": "请只填一项：运营商显示的已用流量，或剩余流量。",
        "error_bad_calibration": "请以流量大小填写{field}（最多 1000 TB）。",
        "error_calibrate_left_without_plan": "还没有设置套餐，无从计算剩余：请先设置套餐，或填写已用流量。",
        "error_calibrate_left_over_allowance": "剩余流量超过了套餐额度（{size}）：请先调高套餐流量或追加流量。",
        # --- the plan as eSIM bundles ---
        "bundles": "流量包",
        "period_bundles": "流量包",
        "bundle_state_active": "有效",
        "bundle_state_exhausted": "已用完",
        "bundle_state_expired": "已过期",
        "bundle_state_future": "未生效",
        "bundle_left_until": "剩余 {left} · {when} 到期",
        "bundle_left_today": "今日剩余 {left} · {when} 清零 · {end} 到期",
        "bundle_starts": "{when} 生效",
        "bundle_ended": "{when} 已到期",
        "bundle_daily": "日包：每天 {size}，共 {days} 天",
        "bundle_quota_days": "{size}，有效期 {days} 天",
        "bundle_recurring": "套餐，每周期重置",
        "bundle_price": "价格 {price} {currency}",
        "bundle_used_of": "已用 {used}，共 {total}",
        "bundle_add": "添加流量包",
        "bundle_add_hint": "按运营商卖的填写加油包或新流量包，从现在起计算。",
        "bundle_size": "流量",
        "bundle_days_field": "有效期（天）",
        "bundle_name_field": "名称（可选）",
        "bundle_name_example": "5 GB 加油包",
        "bundle_daily_switch": "日包：每天这么多，当天未用完的午夜清零",
        "bundle_price_field": "价格（可选）",
        "bundle_currency_field": "币种",
        "bundle_currency_example": "三个字母",
        "bundle_add_button": "添加",
        "bundle_remove": "删除 {name}",
        "bundles_none": "还没有流量包：在下方添加您购买的流量包。",
        "bundles_forecast": "按当前速率，流量包将于 {when} 用完。",
        "bundles_forecast_idle": "当前没有设备在用流量。",
        "bundles_forecast_gone": "所有流量包均已用完或到期：添加流量包即可恢复上网。",
        "bundles_unused": "按当前速率，将有 {size} 到期未用。",
        "costs": "费用分摊",
        "costs_hint": "按每台设备从各个带价格的流量包用掉的流量，以该流量包的单价计算；路由器自身的流量单列一行。",
        "costs_none": "还没有用到带价格的流量包。",
        "costs_router": "路由器自身",
        "costs_group": "分组 {name}",
        "costs_csv": "下载 CSV",
        "alert_kind_bundle": "流量包",
        "alert_bundle_expiring": "流量包 {name} 将在 {hours} 小时后到期，还剩 {left}（{percent}%），过期作废。",
        "alert_bundle_ran_out": "最后一个有效流量包（{name}）已用完：添加流量包前没有流量可用。",
        "term_quota_bytes": "流量大小",
        "term_daily_bytes": "每日流量",
        "term_price": "价格",
        "term_currency": "币种",
        "term_id": "编号",
        "term_to": "结束时间",
        "error_bundle_quota_or_daily": "总流量和每日流量只能填一个。",
        "error_bundle_needs_size": "必填：填写总流量或每日流量。",
        "error_not_a_price": "{value} 不是价格，请填写数字，如 700 或 4.99。",
        "error_too_many_decimals": "{value} 的小数超过 {places} 位。",
        "error_not_a_currency": "{value} 不是币种代码，请填写三个字母，如 PKR、EUR 或 CNY。",
        "error_price_needs_currency": "填写价格时必填。",
        "error_no_bundle": "没有流量包 {bid}。",
        "error_bad_bundle_id": "{value}：请使用 1 至 32 个字母、数字、_ 或 -。",
        # --- guard (network half: new devices, unusual use, no way around a cut) ---
        "scope_newcomers": "未登记设备共享额度",
        "alert_kind_new_device": "新设备",
        "alert_kind_borrowed_mac": "MAC 地址被冒用",
        "alert_new_device": "新设备 {name}接入了网络，地址 {address}。",
        "alert_borrowed_mac_hostname": "设备 {mac} 出现时用的是 {other_name} 的主机名 {value}：可能有其他设备在冒用它的 MAC 地址。",
        "alert_borrowed_mac_client_id": "设备 {mac} 出现时用的是 {other_name} 的 DHCP 客户端标识 {value}：可能有其他设备在冒用它的 MAC 地址。",
        "alert_done_throttle": "已限速至 {kbit} kbit/s，持续 1 小时。",
        "alert_done_pause": "已暂停上网 1 小时。",
        "approved": "已批准",
        "not_approved": "等待批准",
        "approve": "批准上网",
        "approve_hint": "批准之前此设备无法上网，但仍可获取地址、解析域名、打开本页面。",
        "undo": "撤销",
        "throttled_until": "限速至 {when}",
        "error_bad_approved": "“已批准”只能是 true 或 false。",
        "error_bad_throttled": "throttled 只能设为 false（解除异常用量后的限速）。",
        # --- free uplinks first ---
        "alert_kind_uplink": "上行链路",
        "alert_uplink_metered": "流量已改走计流量的上行链路 {to}：{was} 无法上网{why}。",
        "alert_uplink_captive": "（出现了认证登录页，请先在该页面登录）",
        "alert_uplink_back": "流量已回到不计流量的上行链路 {to}，计流量的 {was} 不再使用。",
        "uplink_internet": "可以上网",
        "uplink_no_internet": "无法上网",
        "uplink_captive": "需要登录（认证页面）",
        "uplink_probes": "已检测 {count} 次，共 {size}（只走免费链路，每天不到 1 MB）",
        "metered_access": "允许使用移动数据（计流量的上行链路）",
        "metered_access_hint": "不勾选时，此设备只通过 Wi-Fi 或有线网络上网，备份和更新会等到有免费网络时再进行。",
        "metered_refused_admin": "当前离线：路由器正在使用移动数据。",
        "me_no_metered_access": "此设备不使用移动数据，只通过免费 Wi-Fi 上网。",
        "me_metered_refused": "路由器正在使用移动数据，此设备暂时无法上网，等免费 Wi-Fi 恢复后即可上网。",
    },
}


# The shipped services' names (routerguard/data/categories.json) as a Chinese reader knows them: brands stay
# as they are written, a description is translated. A name not here (one of the admin's) is shown as given.
SERVICE_NAMES: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Windows Update": "Windows 更新",
        "Apple software update": "苹果软件更新",
        "Google and Chrome updates": "Google 与 Chrome 更新",
        "Samsung firmware": "三星固件更新",
        "Xiaomi firmware": "小米固件更新",
        "Linux packages": "Linux 软件包",
        "iCloud backup": "iCloud 备份",
        "Google Photos and Drive": "Google 相册与云端硬盘",
        "Google ads": "Google 广告",
        "Analytics": "访问统计",
        "Mobile ad networks": "移动广告联盟",
        "Ad exchanges": "广告交易平台",
        "Douyin": "抖音",
        "Bilibili": "哔哩哔哩",
        "iQIYI": "爱奇艺",
        "Youku": "优酷",
        "Tencent Video": "腾讯视频",
    },
}


def service_name(name: str) -> str:
    """A shipped service's name in the reader's language (SERVICE_NAMES), else as given."""
    return service_name_in(language(), name)


def service_name_in(lang: str, name: str) -> str:
    return SERVICE_NAMES.get(lang, {}).get(name, name)


def pick() -> str:
    """The cookie's language, else the browser's best match, else English."""
    chosen = request.cookies.get(COOKIE)
    if chosen in MESSAGES:
        return chosen
    best = request.accept_languages.best_match(["en", "zh-CN", "zh"], default=DEFAULT)
    return "zh-CN" if best.startswith("zh") else "en"


def language() -> str:
    """The reader's language, picked at its first use: an error raised before any view (the Host check, a body
    too large) is still said in it."""
    if "lang" not in g:
        g.lang = pick()
    return g.lang


def translate(key: str, **values: object) -> str:
    return translate_in(language(), key, **values)


def translate_in(lang: str, key: str, **values: object) -> str:
    """`key` in `lang`, for words said outside a request (the alerts the chat channels get)."""
    text = MESSAGES[lang][key]
    return text.format(**values) if values else text


TERMS = ("field", "what")  # values that name a thing: said by the reader's word for it (term_<name>)


def say(error: BaseException) -> str:
    """An error in the reader's language: its key's words filled with its values (each said the same way in
    turn), the HTTP status's words for an HTTP error without a key, else its English sentence."""
    words = MESSAGES[language()]
    http = isinstance(error, HTTPException)
    english = (error.description or error.name) if http else str(error)  # type: ignore[union-attr]
    key = getattr(error, "key", None) or (f"http_{error.code}" if http else None)  # type: ignore[union-attr]
    text = words.get(f"error_{key}")
    if text is None:
        return english
    values = {name: _said(name, value, words) for name, value in (getattr(error, "params", None) or {}).items()}
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return english


def _said(name: str, value: object, words: dict[str, str]) -> object:
    if isinstance(value, BaseException):
        return say(value)
    if isinstance(value, (list, tuple)):
        return words["list_sep"].join(map(str, value))
    if name in TERMS and isinstance(value, str):
        return words.get(f"term_{value}") or words.get(f"term_{value.rsplit('.', 1)[-1]}") or value
    return value


def alert_text(alert: dict) -> str:
    """An alert in the reader's language, from what it is about; the stored English sentence when that is unknown."""
    return alert_text_in(alert, language())


def alert_text_in(alert: dict, lang: str) -> str:
    params, kind = alert.get("params") or {}, alert.get("kind")
    try:
        if kind == "threshold":
            subject = translate_in(lang, f"alert_subject_{params['subject']}", name=params.get("name"))
            key = "alert_used_up" if params["level"] >= 100 else "alert_threshold"
            return translate_in(lang, key, subject=subject, level=params["level"], used=format_size(params["used"]),
                                total=format_size(params["allowance"]))
        if kind == "bundle":  # the plan as eSIM bundles
            return translate_in(lang, f"alert_bundle_{params['event']}", name=params["name"], hours=params.get("hours"),
                                left=format_size(params.get("left")), percent=params.get("percent"))
        if kind == "uplink":
            key = "alert_uplink_metered" if params["metered"] else "alert_uplink_back"
            why = translate_in(lang, "alert_uplink_captive") if params.get("why") == "captive" else ""
            return translate_in(lang, key, to=params["to"], was=params["from"], why=why)
        if kind in ("unusual_rate", "unusual_hour"):
            text = translate_in(lang, f"alert_{kind}", name=params["name"], recent=format_size(params["recent"]),
                                minutes=params["minutes"], usual=format_size(params["usual"]), factor=params["factor"],
                                hour=params.get("hour", 0))
            return _with_done(text, params, lang)
        if kind in GUARD_KINDS:
            return guard_text(kind, params, lang)
    except (KeyError, TypeError, ValueError):
        pass
    return alert.get("message", "")


GUARD_KINDS = ("new_device", "borrowed_mac")


def guard_text(kind: str, params: dict, lang: str) -> str:
    """A new_device or borrowed_mac alert in `lang` (decide/guard.py's params)."""
    if kind == "new_device":
        mac, hostname = params["mac"], params["hostname"]
        if lang == "zh-CN":  # full-width brackets, and a space between Latin text and Chinese
            name = f"{mac}（{hostname}）" if hostname else f"{mac} "
        else:
            name = f"{mac} ({hostname})" if hostname else mac
        return translate_in(lang, "alert_new_device", name=name, address=params["address"] or "-")
    return translate_in(lang, f"alert_borrowed_mac_{params['part']}", mac=params["mac"], value=params["value"],
                        other_name=params["other_name"])


def _with_done(text: str, params: dict, lang: str) -> str:
    """An unusual-use alert and what on_unusual did about it."""
    done = params.get("done")
    if not done:
        return text
    sep = "" if lang == "zh-CN" else " "
    return text + sep + translate_in(lang, f"alert_done_{done}", kbit=params.get("kbit"))


def alert_kind(kind: str) -> str:
    """An alert's kind as a word of the reader's language (the raw kind when it is new to us)."""
    return alert_kind_in(kind, language())


def alert_kind_in(kind: str, lang: str) -> str:
    key = f"alert_kind_{kind}"
    return translate_in(lang, key) if key in MESSAGES[lang] else kind


def chat_words(alert: dict, lang: str) -> tuple[str, str]:
    """An alert as the chat channels show it in `lang`: a title and the sentence (notify.py's `Render`)."""
    sentence = translate_in(lang, "notify_test_message") if alert.get("kind") == "test" else alert_text_in(alert, lang)
    return translate_in(lang, "notify_chat_title", kind=alert_kind_in(alert["kind"], lang)), sentence


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
    app.add_template_filter(service_name, "service_name")

    @app.context_processor
    def words() -> dict:
        return {"_": translate, "lang": language(), "languages": LANGUAGES}
