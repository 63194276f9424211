'use strict';
'require baseclass';

// The pure parts of routerguard's LuCI views: sizes, percentages, states and
// argument checks, kept apart from the DOM so that node can test them
// (tests/packaging/test_luci.py).

var UNITS = [ 'B', 'kB', 'MB', 'GB', 'TB' ];

return baseclass.extend({
	// Decimal units, as carriers sell data and routerguard's page shows it.
	bytes: function(n) {
		if (n == null || isNaN(n))
			return '-';
		var i = 0;
		n = Number(n);
		while (Math.abs(n) >= 1000 && i < UNITS.length - 1) {
			n /= 1000;
			i++;
		}
		return (i ? n.toFixed(n >= 100 ? 0 : 1) : String(Math.round(n))) + ' ' + UNITS[i];
	},

	// The share of `quota` used, 0-100 (a plan without a quota: null).
	percent: function(used, quota) {
		if (!quota || quota <= 0)
			return null;
		var p = Math.round(100 * (used || 0) / quota);
		return Math.max(0, Math.min(100, p));
	},

	// The plan gauge's text and width.
	gauge: function(plan) {
		if (!plan)
			return { pct: null, text: '-' };
		var pct = this.percent(plan.used_bytes, plan.quota_bytes);
		var text = this.bytes(plan.used_bytes) + (plan.quota_bytes ? ' / ' + this.bytes(plan.quota_bytes) : '');
		return { pct: pct, text: pct == null ? text : text + ' (' + pct + '%)' };
	},

	// A device's state in words (translated by the caller with _()).
	stateLabel: function(state) {
		return {
			ok: 'OK', warned: 'Nearly used up', throttled: 'Throttled',
			blocked: 'Blocked', exempt: 'Exempt'
		}[state] || state || '-';
	},

	// What the block switch shows and does for a device.
	isBlocked: function(device) {
		return !!(device && (device.blocked || device.state === 'blocked'));
	},

	// Devices as the status table lists them: biggest usage first, then by name.
	sortDevices: function(devices) {
		return (devices || []).slice().sort(function(a, b) {
			var d = ((b.usage || {}).total_bytes || 0) - ((a.usage || {}).total_bytes || 0);
			if (d)
				return d;
			var an = a.name || a.hostname || a.mac, bn = b.name || b.hostname || b.mac;
			return an < bn ? -1 : an > bn ? 1 : 0;
		});
	},

	deviceName: function(device) {
		return device.name || device.hostname || device.mac;
	},

	// The admin password form: null when it may be sent, else why not.
	passwordProblem: function(password, repeat) {
		if (!password || password.length < 8)
			return 'The password needs at least 8 characters';
		if (password !== repeat)
			return 'The two passwords differ';
		return null;
	},

	// A size as typed in the settings form ('20GB', '512MiB', '500 MB'): true when routerguard takes it.
	validSize: function(text) {
		return /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$/i.test(text || '');
	}
});
