'use strict';
'require view';
'require rpc';
'require poll';
'require ui';
'require routerguard.fmt as fmt';

// routerguard's status in LuCI: the plan's gauge, every device with its usage
// and state and a switch that cuts it off, and (first run) the admin password
// and an API token, set through LuCI's own login (rpcd: ubus routerguard).

var callStatus = rpc.declare({ object: 'routerguard', method: 'status' });
var callBlock = rpc.declare({ object: 'routerguard', method: 'block', params: [ 'mac', 'blocked' ] });
var callPassword = rpc.declare({ object: 'routerguard', method: 'set_password', params: [ 'password' ] });
var callToken = rpc.declare({ object: 'routerguard', method: 'create_token', params: [ 'label' ] });
var callPage = rpc.declare({ object: 'routerguard', method: 'page' });

function gaugeNode(plan) {
	var g = fmt.gauge(plan);
	return E('div', { 'class': 'cbi-progressbar', 'title': g.text, 'id': 'routerguard-gauge' },
		E('div', { 'style': 'width:%d%%'.format(g.pct == null ? 0 : g.pct) }));
}

function deviceRows(devices, onToggle) {
	return fmt.sortDevices(devices).map(function(d) {
		var blocked = fmt.isBlocked(d);
		return [
			fmt.deviceName(d),
			d.mac,
			fmt.bytes((d.usage || {}).total_bytes) + (d.allowance_bytes ? ' / ' + fmt.bytes(d.allowance_bytes) : ''),
			_(fmt.stateLabel(d.state)),
			E('button', {
				'class': 'btn cbi-button ' + (blocked ? 'cbi-button-positive' : 'cbi-button-negative'),
				'click': ui.createHandlerFn(this, onToggle, d.mac, !blocked)
			}, [ blocked ? _('Let back on') : _('Cut off') ])
		];
	});
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callStatus(), { error: _('routerguard does not answer') }),
			L.resolveDefault(callPage(), {})
		]);
	},

	handleToggle: function(mac, blocked) {
		return callBlock(mac, blocked).then(L.bind(function(res) {
			if (res && res.error)
				ui.addNotification(null, E('p', res.error), 'error');
			return callStatus().then(L.bind(this.update, this));
		}, this));
	},

	handlePassword: function() {
		var pw = document.getElementById('routerguard-pw').value;
		var again = document.getElementById('routerguard-pw2').value;
		var problem = fmt.passwordProblem(pw, again);
		if (problem) {
			ui.addNotification(null, E('p', _(problem)), 'error');
			return Promise.resolve();
		}
		return callPassword(pw).then(function(res) {
			ui.addNotification(null, E('p', res && res.error ? res.error : _('The admin password is set')),
				res && res.error ? 'error' : 'info');
		});
	},

	handleToken: function() {
		return callToken('LuCI').then(function(res) {
			if (res && res.error)
				return ui.addNotification(null, E('p', res.error), 'error');
			ui.showModal(_('API token'), [
				E('p', _('Shown this once: copy it now.')),
				E('pre', {}, [ res.token ]),
				E('div', { 'class': 'right' }, [ E('button', { 'class': 'btn', 'click': ui.hideModal }, [ _('Close') ]) ])
			]);
		});
	},

	update: function(status) {
		var table = document.getElementById('routerguard-devices');
		var gauge = document.getElementById('routerguard-gauge');
		if (!status || status.error || !table)
			return;
		if (gauge)
			gauge.parentNode.replaceChild(gaugeNode(status.plan), gauge);
		cbi_update_table(table, deviceRows.call(this, status.devices, this.handleToggle),
			E('em', _('No devices seen yet')));
	},

	render: function(data) {
		var status = data[0], page = data[1];
		var table = E('table', { 'class': 'table', 'id': 'routerguard-devices' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Device')),
				E('th', { 'class': 'th' }, _('MAC address')),
				E('th', { 'class': 'th' }, _('Used this period')),
				E('th', { 'class': 'th' }, _('State')),
				E('th', { 'class': 'th cbi-section-actions' }, _('Cut off'))
			])
		]);
		var body = [
			E('h2', {}, _('routerguard')),
			E('div', { 'class': 'cbi-map-descr' }, _('Data caps per device, group and plan on the metered uplink.')),
			status.error ? E('div', { 'class': 'alert-message warning' }, status.error) : '',
			E('h3', {}, _('Data plan')),
			gaugeNode(status.plan),
			E('h3', {}, _('Devices')),
			table,
			E('h3', {}, _('Admin access')),
			E('div', { 'class': 'cbi-value' }, [
				E('input', { 'type': 'password', 'id': 'routerguard-pw', 'class': 'cbi-input-password',
					'placeholder': _('New admin password'), 'autocomplete': 'new-password' }),
				' ',
				E('input', { 'type': 'password', 'id': 'routerguard-pw2', 'class': 'cbi-input-password',
					'placeholder': _('Repeat it'), 'autocomplete': 'new-password' }),
				' ',
				E('button', { 'class': 'btn cbi-button-apply', 'click': ui.createHandlerFn(this, 'handlePassword') },
					[ _('Set password') ]),
				' ',
				E('button', { 'class': 'btn cbi-button', 'click': ui.createHandlerFn(this, 'handleToken') },
					[ _('New API token') ])
			]),
			page.url ? E('p', {}, [ E('a', { 'href': page.url, 'target': '_blank', 'rel': 'noopener noreferrer' },
				[ _('Open routerguard\'s own page') ]) ]) : ''
		];
		this.update(status);
		poll.add(L.bind(function() {
			return callStatus().then(L.bind(this.update, this));
		}, this), 5);
		return E('div', { 'class': 'cbi-map' }, body);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
