'use strict';
'require view';
'require form';
'require routerguard.fmt as fmt';

// routerguard's main options and data plan: LuCI's form.Map over the same
// UCI file the daemon reads (/etc/config/routerguard). Save & Apply runs
// reload_config, and procd's reload trigger reloads routerguard.

function size(section_id, value) {
	return (!value || fmt.validSize(value)) ? true : _('A size like 20GB or 512MiB');
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('routerguard', _('routerguard settings'),
			_('Data caps per device, group and plan on the metered uplink. Devices, groups and categories are set on routerguard\'s own page.'));

		s = m.section(form.NamedSection, 'main', 'routerguard', _('General'));
		s.addremove = false;

		o = s.option(form.Value, 'lan_if', _('LAN device'), _('The Linux device the LAN clients are on, e.g. br-lan.'));
		o.rmempty = false;
		o = s.option(form.DynamicList, 'wan_if', _('Metered uplinks'), _('The LTE/eSIM modem\'s device, e.g. wwan0.'));
		o.rmempty = false;
		o = s.option(form.Value, 'listen_interface', _('Page on interface'), _('The page listens on this interface\'s addresses, looked up at each start and reload.'));
		o.placeholder = 'lan';
		o = s.option(form.Value, 'listen_port', _('Page port'));
		o.datatype = 'port';
		o.placeholder = '8080';
		o = s.option(form.Value, 'poll_interval', _('Seconds between meter readings'));
		o.datatype = 'ufloat';
		o.placeholder = '2';
		o = s.option(form.Value, 'commit_interval', _('Seconds between writes to flash'));
		o.datatype = 'range(1,86400)';
		o.placeholder = '60';
		o = s.option(form.Value, 'timezone', _('Time zone'), _('Periods roll over at local midnight, e.g. Asia/Shanghai.'));

		s = m.section(form.NamedSection, 'plan', 'plan', _('Data plan'));
		s.addremove = true;
		o = s.option(form.Value, 'quota', _('Quota'), _('GB = 10^9 bytes, as carriers sell.'));
		o.validate = size;
		o.rmempty = false;
		o = s.option(form.ListValue, 'period', _('Period'));
		o.value('monthly', _('Monthly'));
		o.value('weekly', _('Weekly'));
		o.value('daily', _('Daily'));
		o.value('days', _('A number of days from a start'));
		o.value('none', _('Never starts afresh'));
		o.default = 'monthly';
		o = s.option(form.Value, 'reset_day', _('Reset day'));
		o.datatype = 'range(1,31)';
		o.depends('period', 'monthly');
		o.depends('period', 'weekly');
		o = s.option(form.Value, 'start', _('Start'), _('Local time, e.g. 2026-11-20T09:00.'));
		o.depends('period', 'days');
		o = s.option(form.Value, 'days', _('Days'));
		o.datatype = 'range(1,3660)';
		o.depends('period', 'days');
		o = s.option(form.ListValue, 'action', _('When it is used up'));
		o.value('block', _('Cut off'));
		o.value('throttle', _('Throttle'));
		o.value('notify', _('Only notify'));
		o.default = 'block';
		o = s.option(form.Value, 'throttle', _('Throttle to'), _('e.g. 256kbit'));
		o.depends('action', 'throttle');

		return m.render();
	}
});
