'use strict';
'require view';
'require uci';

// routerguard serves its own page (waitress, not uhttpd); LuCI only links to
// it. An iframe would not do: the page refuses to be framed.

// `listen` as routerguard reads it: '[v6]:port', 'v4:port' or a bare host.
function splitListen(text) {
	var m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text) || /^([^:]+):(\d+)$/.exec(text);
	return m ? [ m[1], m[2] ] : [ text, null ];
}

function pageUrl(listen) {
	var parts = splitListen((Array.isArray(listen) ? listen[0] : listen) || '');
	var host = parts[0];
	var port = parts[1] || '8080';

	// The configured address is one the page accepts in a Host header; a
	// wildcard one is not an address to browse to.
	if (!host || host === '0.0.0.0' || host === '::')
		host = window.location.hostname;
	else if (host.indexOf(':') >= 0)
		host = '[' + host + ']';

	return 'http://' + host + ':' + port + '/';
}

return view.extend({
	load: function() {
		return uci.load('routerguard');
	},

	render: function() {
		var url = pageUrl(uci.get('routerguard', 'main', 'listen'));

		return E('div', { 'class': 'cbi-map' }, [
			E('h2', {}, [ _('routerguard') ]),
			E('div', { 'class': 'cbi-map-descr' }, [
				_('Data caps per device, group and plan on the metered uplink. routerguard has its own page, in a new tab.')
			]),
			E('p', {}, [
				E('a', {
					'class': 'btn cbi-button cbi-button-action',
					'href': url,
					'target': '_blank',
					'rel': 'noopener noreferrer'
				}, [ _('Open routerguard') ]),
				' ',
				E('code', {}, [ url ])
			])
		]);
	},

	handleSave: null,
	handleSaveApply: null,
	handleReset: null
});
