// INCOMING requests from another app: the RESPONSE names the broker's
// request id exactly (the fake broker's ids exceed 2^53), a request with no
// matching respond handler is answered with an error, and a request whose
// payload is not JSON reaches the handler with data undefined.
'use strict';
const {control, signal} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    await bus.ready;
    const done = signal();
    let calls = 0;
    const unrespond = bus.respond('jobs/*', message => {
        console.log(`respond ${message.topic}: ${JSON.stringify(message.data)} ` +
                    `from ${message.sender.appId}`);
        if (++calls === 2)
            done.resolve();
        return {ran: message.topic};
    });
    await control('incoming', {topic: 'other/x', payload: '{"job":0}'});
    await control('incoming', {topic: 'jobs/broken', payload: 'RAW-NOT-JSON'});
    await control('incoming', {topic: 'jobs/run', payload: '{"job":7}'});
    await done.promise;
    unrespond();

    // Only a respond handler keeps the loop running while a request is due
    // 0.3 s later; it removes itself when it has answered.
    const removeLater = bus.respond('later/*', message => {
        console.log(`respond ${message.topic}: ${JSON.stringify(message.data)}`);
        setTimeout(() => removeLater(), 0);
        return 'late answer';
    });
    await control('incoming', {topic: 'later/x', payload: '"due"', delay: 0.3});
    console.log('waiting for the late request');
})();
