// node:test unit tests of luci-app-routerguard's pure module (htdocs/.../routerguard/fmt.js),
// run by tests/packaging/test_luci.py with RG_FMT set to the file.
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('fs');

// LuCI loads a module as a function body given its 'require'd classes; baseclass.extend returns the class.
const baseclass = { extend: (o) => o };
const fmt = new Function('baseclass', fs.readFileSync(process.env.RG_FMT, 'utf8'))(baseclass);

test('sizes in decimal units, as carriers sell', () => {
	assert.strictEqual(fmt.bytes(0), '0 B');
	assert.strictEqual(fmt.bytes(999), '999 B');
	assert.strictEqual(fmt.bytes(1500), '1.5 kB');
	assert.strictEqual(fmt.bytes(20e9), '20.0 GB');
	assert.strictEqual(fmt.bytes(123e9), '123 GB');
	assert.strictEqual(fmt.bytes(null), '-');
});

test('percent is bounded and null without a quota', () => {
	assert.strictEqual(fmt.percent(5e9, 20e9), 25);
	assert.strictEqual(fmt.percent(30e9, 20e9), 100);
	assert.strictEqual(fmt.percent(5, 0), null);
	assert.strictEqual(fmt.percent(5, null), null);
});

test('the plan gauge', () => {
	assert.deepStrictEqual(fmt.gauge({ used_bytes: 5e9, quota_bytes: 20e9 }), { pct: 25, text: '5.0 GB / 20.0 GB (25%)' });
	assert.deepStrictEqual(fmt.gauge({ used_bytes: 1000, quota_bytes: null }), { pct: null, text: '1.0 kB' });
	assert.deepStrictEqual(fmt.gauge(null), { pct: null, text: '-' });
});

test('states, names and the block switch', () => {
	assert.strictEqual(fmt.stateLabel('throttled'), 'Throttled');
	assert.strictEqual(fmt.stateLabel('new-state'), 'new-state');
	assert.strictEqual(fmt.isBlocked({ state: 'blocked' }), true);
	assert.strictEqual(fmt.isBlocked({ state: 'ok', blocked: true }), true);
	assert.strictEqual(fmt.isBlocked({ state: 'ok' }), false);
	assert.strictEqual(fmt.deviceName({ mac: '02:00:00:00:00:0a', hostname: 'phone' }), 'phone');
	assert.strictEqual(fmt.deviceName({ mac: '02:00:00:00:00:0a', name: 'Zhang phone', hostname: 'x' }), 'Zhang phone');
});

test('devices sorted by usage, then name', () => {
	const sorted = fmt.sortDevices([
		{ mac: 'a', name: 'b', usage: { total_bytes: 5 } },
		{ mac: 'b', name: 'a', usage: { total_bytes: 5 } },
		{ mac: 'c', name: 'z', usage: { total_bytes: 9 } },
		{ mac: 'd' }
	]);
	assert.deepStrictEqual(sorted.map((d) => d.mac), [ 'c', 'b', 'a', 'd' ]);
});

test('the password form and sizes are checked before anything is sent', () => {
	assert.ok(fmt.passwordProblem('short', 'short'));
	assert.ok(fmt.passwordProblem('long enough', 'long enougH'));
	assert.strictEqual(fmt.passwordProblem('long enough', 'long enough'), null);
	for (const ok of [ '20GB', '512MiB', '1000', '1.5 gb', '20 GB' ])
		assert.ok(fmt.validSize(ok), ok);
	for (const bad of [ '', 'GB', '20 GBs', '-5GB', '20XB' ])
		assert.ok(!fmt.validSize(bad), bad);
});
