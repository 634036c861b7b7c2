// send: a SEND delivery (DELIVER with id 0) goes to onmessage when it is
// set, else to the subscriptions whose pattern matches its topic.
'use strict';
const {outcome, signal, thrown} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    const self = await bus.ready;

    const viaSubscription = signal();
    const unsubscribe = bus.subscribe('direct/*', message => {
        console.log(`subscription handler: ${message.topic} ${JSON.stringify(message.data)} ` +
                    `from ${message.sender.appId}`);
        viaSubscription.resolve();
    });
    console.log(`send to self: ${await outcome(bus.send(self.appId, 'direct/one', {n: 1}))}`);
    await viaSubscription.promise;

    const viaOnmessage = signal();
    bus.onmessage = message => {
        console.log(`onmessage: ${message.topic} ${JSON.stringify(message.data)} ` +
                    `from ${message.sender.appId}`);
        viaOnmessage.resolve();
    };
    await bus.send(self.appId, 'direct/two', {n: 2});
    await viaOnmessage.promise;
    bus.onmessage = null;
    unsubscribe();

    // Nobody handles this one: a warning on stderr.
    await bus.send(self.appId, 'nobody/three', 3);

    console.log(`send to another app: ${await outcome(bus.send('com.example.other', 'x/y', 4))}`);
    console.log(`send to a missing app: ` +
                `${await outcome(bus.send('com.example.missing', 'x/y', 5))}`);
    console.log(`invalid app id: ${thrown(() => bus.send('Not An Id', 'x/y', 6))}`);
    console.log(`app id not a string: ${thrown(() => bus.send(undefined, 'x/y', 6))}`);
    console.log(`onmessage not a function: ${thrown(() => {
        bus.onmessage = 'yes';
    })}`);
    console.log(`cashstory.bus is frozen: ${Object.isFrozen(bus)} ` +
                `${thrown(() => {
                    bus.publish = () => {};
                })}`);
    console.log(`own properties: ${Object.getOwnPropertyNames(bus).join(',')}`);
    console.log('send done');
})();
