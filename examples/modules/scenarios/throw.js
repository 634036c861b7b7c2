// An uncaught exception, thrown two modules deep.
const { explode } = require('../lib/boom');
console.log('before the exception');
explode();
