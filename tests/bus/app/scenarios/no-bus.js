// Without --bus-fd every call fails with ENOTCONN.
'use strict';
const {outcome, thrown} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    console.log(`self: ${bus.self}`);
    console.log(`publish: ${await outcome(bus.publish('news/x', 1))}`);
    console.log(`send: ${await outcome(bus.send('com.example.other', 'news/x', 1))}`);
    console.log(`request: ${await outcome(bus.request('com.example.other', 'news/x', 1))}`);
    console.log(`peers: ${await outcome(bus.peers())}`);
    console.log(`ready: ${await outcome(bus.ready)}`);
    console.log(`subscribe: ${thrown(() => bus.subscribe('news/*', () => {}))}`);
    console.log(`respond: ${thrown(() => bus.respond('news/*', () => {}))}`);
    bus.onmessage = () => {};
    console.log('no-bus done');
})();
