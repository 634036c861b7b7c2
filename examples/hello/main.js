const { greet } = require('./lib/greet.js');

console.log(greet(cashstory.app.id));
