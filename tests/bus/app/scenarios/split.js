// Run with fake_broker.py --split: every frame from the broker arrives one
// byte at a time.
'use strict';
const {signal} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    const self = await bus.ready;
    console.log(`split ready: ${self.appId}`);
    const delivered = signal();
    const unsubscribe = bus.subscribe('chat/*', message => {
        console.log(`split delivery: ${message.topic} ${JSON.stringify(message.data)}`);
        delivered.resolve();
    });
    await bus.publish('chat/split', {text: 'é€𝄞'});
    await delivered.promise;
    unsubscribe();
    const unrespond = bus.respond('echo/*', message => message.data);
    const reply = await bus.request(self.appId, 'echo/x', [1, 2, 3]);
    console.log(`split reply: ${JSON.stringify(reply.data)}`);
    unrespond();
    console.log(`split peers: ${(await bus.peers()).length}`);
})();
