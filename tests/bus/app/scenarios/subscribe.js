// subscribe: DELIVER to the right handlers, frozen senders, a forged sender
// inside the data, unsubscribe, and subscriptions the broker rejects.
'use strict';
const {control, signal, thrown} = require('../lib.js');
const bus = cashstory.bus;

(async () => {
    await bus.ready;

    // Without onerror, a rejected subscription is a warning on stderr.
    bus.subscribe('denied/room', () => console.log('NEVER: handler of a rejected subscription'));

    const first = signal();
    const second = signal();
    const unsubscribeFirst = bus.subscribe('chat/*', message => {
        console.log(`first handler: ${message.topic} ${JSON.stringify(message.data)} ` +
                    `from ${message.sender.appId}`);
        console.log(`first handler: frozen ${Object.isFrozen(message)} ` +
                    `${Object.isFrozen(message.sender)} ${Object.isFrozen(message.sender.publisher)}`);
        // Neither the sender nor this handler's copy of the data reaches the
        // next handler.
        console.log(`change sender: ${thrown(() => {
            message.sender.appId = 'com.example.changed';
        })}`);
        message.data.text = 'changed by the first handler';
        first.resolve();
    });
    const unsubscribeSecond = bus.subscribe('chat/*', message => {
        console.log(`second handler: ${message.topic} ${JSON.stringify(message.data)} ` +
                    `from ${message.sender.appId}`);
        second.resolve();
    });
    console.log(`unsubscribe is a function: ${typeof unsubscribeFirst}`);

    // The data claims another sender; only message.sender is the broker's.
    await bus.publish('chat/general', {text: 'hi', sender: {appId: 'com.example.forged'}});
    await Promise.all([first.promise, second.promise]);

    unsubscribeFirst();
    unsubscribeFirst();
    const third = signal();
    const unsubscribeThird = bus.subscribe('news/*', message => {
        console.log(`news handler: ${message.topic} ${JSON.stringify(message.data)}`);
        third.resolve();
    });
    await bus.publish('chat/after-unsubscribe', 2);
    await bus.publish('news/flash', 3);
    await third.promise;

    // Not JSON, or not even UTF-8: the handler gets data undefined and
    // stderr one warning for each.
    let invalid = signal();
    const unsubscribeOdd = bus.subscribe('odd/*', message => {
        console.log(`invalid payload: ${message.topic} data ${message.data} ` +
                    `from ${message.sender.appId}`);
        invalid.resolve();
    });
    await control('deliver', {pattern: 'odd/*', topic: 'odd/text', payload: 'RAW-NOT-JSON'});
    await invalid.promise;
    invalid = signal();
    await control('deliver', {pattern: 'odd/*', topic: 'odd/bytes', payload: '',
                              payload_hex: '22ff22'});
    await invalid.promise;

    // A frame larger than one read of the socket.
    const large = signal();
    const unsubscribeLarge = bus.subscribe('large/*', message => {
        console.log(`large delivery: ${message.data.length} characters`);
        large.resolve();
    });
    await control('large', {pattern: 'large/*', topic: 'large/one', size: 1024 * 1024});
    await large.promise;

    const reported = signal();
    bus.onerror = error => {
        console.log(`onerror: ${error.code} ${error.topic}: ${error.message}`);
        reported.resolve();
    };
    bus.subscribe('denied/other', () => console.log('NEVER: handler of a rejected subscription'));
    await reported.promise;

    console.log(`bad pattern: ${thrown(() => bus.subscribe('chat/x*', () => {}))}`);
    console.log(`no handler: ${thrown(() => bus.subscribe('chat/*'))}`);

    // The last subscription waits for a message that the broker sends
    // 0.3 s later; nothing else keeps the loop running. When its handler
    // unsubscribes, the app ends on its own.
    unsubscribeSecond();
    unsubscribeThird();
    unsubscribeOdd();
    unsubscribeLarge();
    const unsubscribeTick = bus.subscribe('tick/*', message => {
        console.log(`tick: ${message.topic}`);
        unsubscribeTick();
    });
    await control('deliver', {pattern: 'tick/*', topic: 'tick/1', payload: '1', delay: 0.3});
    console.log('waiting for the tick');
})();
