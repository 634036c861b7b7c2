exports.done = false;
const b = require('./b');
exports.seenFromA = `b.done is ${b.done}`;
exports.done = true;
