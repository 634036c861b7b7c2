// Timer order: by due time, then by creation; clearTimeout and
// clearInterval stop timers; extra arguments reach the callback.
const order = [];

setTimeout(() => order.push('timeout 200'), 200);
setTimeout(() => order.push('timeout 0'), 0);
setTimeout((x, y) => order.push(`timeout 100 with ${x} ${y}`), 100, 'x', 'y');
const cancelled = setTimeout(() => order.push('cancelled'), 50);
clearTimeout(cancelled);

let ticks = 0;
const interval = setInterval(() => {
    ticks++;
    order.push(`interval ${ticks}`);
    if (ticks === 3)
        clearInterval(interval);
}, 10);

setTimeout(() => {
    order.push('timeout 150');
    setTimeout(() => order.push('nested 0'), 0);
}, 150);

setTimeout(() => console.log(order.join(', ')), 300);
