// An exception in a subscription handler is uncaught, as in a timer: the
// host reports it and exits with status 1.
'use strict';
const bus = cashstory.bus;

bus.subscribe('chat/*', function onChat(message) {
    throw new Error(`handler failed on ${message.topic}`);
});
bus.publish('chat/boom', 1);
