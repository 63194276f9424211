'use strict';
'require baseclass';
'require rpc';
'require routerguard.fmt as fmt';

// Status -> Overview: the data plan's gauge and the devices cut off or throttled.

var callStatus = rpc.declare({ object: 'routerguard', method: 'status' });

return baseclass.extend({
	title: _('Data caps (routerguard)'),

	load: function() {
		return L.resolveDefault(callStatus(), null);
	},

	render: function(status) {
		if (!status || status.error)
			return E('em', {}, _('routerguard does not answer'));
		var g = fmt.gauge(status.plan);
		var limited = (status.devices || []).filter(function(d) {
			return d.state === 'blocked' || d.state === 'throttled';
		});
		return E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr' }, [
				E('td', { 'class': 'td left', 'width': '33%' }, _('Data plan')),
				E('td', { 'class': 'td left' }, E('div', { 'class': 'cbi-progressbar', 'title': g.text },
					E('div', { 'style': 'width:%d%%'.format(g.pct == null ? 0 : g.pct) })))
			]),
			E('tr', { 'class': 'tr' }, [
				E('td', { 'class': 'td left' }, _('Devices')),
				E('td', { 'class': 'td left' }, '%d'.format((status.devices || []).length))
			]),
			E('tr', { 'class': 'tr' }, [
				E('td', { 'class': 'td left' }, _('Cut off or throttled')),
				E('td', { 'class': 'td left' }, limited.length
					? limited.map(function(d) { return fmt.deviceName(d); }).join(', ') : _('none'))
			])
		]);
	}
});
