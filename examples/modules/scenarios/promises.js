// Microtasks run in order after the synchronous code, and between any two
// timer callbacks.
const log = [];

setTimeout(() => {
    log.push('timer 1');
    Promise.resolve().then(() => log.push('microtask of timer 1'));
}, 5);
setTimeout(() => log.push('timer 2'), 5);

Promise.resolve()
    .then(() => log.push('then 1'))
    .then(() => log.push('then 2'));
queueMicrotask(() => log.push('queueMicrotask'));
process.nextTick(() => log.push('nextTick'));
(async () => {
    log.push('async start');
    await null;
    log.push('after await');
})();
log.push('sync end');

setTimeout(() => console.log(log.join(', ')), 50);
