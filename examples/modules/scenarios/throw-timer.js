// An uncaught exception in a timer callback.
setTimeout(function tick() {
    throw new TypeError('thrown in a timer');
}, 1);
