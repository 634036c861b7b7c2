// require() across files, node_modules, "exports", cycles, JSON and errors.
const { greet } = require('../lib/greet');
const config = require('../lib/config.json');
const widgets = require('../lib/widgets');
const local = require('some-local-package');
const { double } = require('some-local-package/src/helper');
const exported = require('exported-package');
const feature = require('exported-package/feature');
const a = require('../lib/cycle/a');
const b = require('../lib/cycle/b');

console.log(greet('modules'));
console.log('json:', config.title);
console.log('folder:', widgets.kind, widgets.loadedFrom);
console.log('package:', local.name, local.twice(21), double(2));
console.log('exports:', exported, '|', feature);
console.log('cycle:', a.seenFromA, '|', b.seenFromB, '|', a.done, b.done);
console.log('same module:', require('../lib/greet.js') === require('../lib/greet'));
console.log('filename:', __filename, __dirname);
console.log('resolve:', require.resolve('some-local-package'));
console.log('main:', require.main === module, module.id);
console.log('cache:', Object.keys(require.cache).includes('/app/lib/format.js'));

function attempt(label, request) {
    try {
        require(request);
        console.log(`${label}: loaded`);
    } catch (error) {
        console.log(`${label}: ${error.code}: ${error.message}`);
    }
}

attempt('builtin', 'fs');
attempt('builtin prefix', 'node:path');
attempt('escape', '../../outside.js');
attempt('absolute', '/etc/passwd');
attempt('missing', './no-such-module');
attempt('not exported', 'exported-package/cjs/private.js');
attempt('unlisted', '../lib/extra');
