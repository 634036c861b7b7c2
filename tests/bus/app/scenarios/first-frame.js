// The broker's first frame is not a valid WELCOME: ready rejects.
'use strict';
const {outcome} = require('../lib.js');

(async () => {
    console.log(`ready: ${await outcome(cashstory.bus.ready)}`);
    console.log(`self: ${cashstory.bus.self}`);
})();
