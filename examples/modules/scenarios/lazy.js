// Prints a line, then loads lib/lazy.js (which the tamper test changes).
console.log('before lib/lazy.js');
require('../lib/lazy');
console.log('after lib/lazy.js');
