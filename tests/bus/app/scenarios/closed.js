// The connection ends while calls wait: the broker sends a malformed frame
// (argv[3] names the case, see MALFORMED in fake_broker.py) or closes the
// socket (case "close" or "close-mid-frame"). Waiting calls reject with
// ECONNRESET and the app goes on and ends normally.
'use strict';
const {control, outcome, thrown} = require('../lib.js');
const bus = cashstory.bus;
const kind = process.argv[3];

(async () => {
    await bus.ready;
    bus.subscribe('news/*', message => console.log(`NEVER: delivery after the end ${message.topic}`));
    bus.respond('jobs/*', () => 1);
    bus.onerror = error => console.log(`onerror: ${error.code}: ${error.message}`);
    const waiting = bus.request('com.example.other', 'slow/x', 1, {timeout: 10000});
    const silent = bus.publish('silent/x', 1);

    if (kind === 'close')
        await control('close', {});
    else if (kind === 'close-mid-frame')
        await control('close', {partial: 30});
    else
        await control('malformed', {case: kind});

    console.log(`waiting request: ${await outcome(waiting)}`);
    console.log(`waiting publish: ${await outcome(silent)}`);
    console.log(`publish after the end: ${await outcome(bus.publish('news/x', 1))}`);
    console.log(`subscribe after the end: ${thrown(() => bus.subscribe('news/*', () => {}))}`);
    console.log(`self after the end: ${bus.self.appId}`);
    setTimeout(() => console.log('the app goes on'), 50);
})();
