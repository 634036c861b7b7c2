const { capitalize } = require('./format');
const config = require('./config.json');

exports.greet = (who) => `${config.greeting}, ${capitalize(who)}!`;
