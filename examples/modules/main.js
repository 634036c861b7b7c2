// Runs the scenario named by the first argument (scenarios/NAME.js), or
// prints a greeting built from several modules when there is none.
const name = process.argv[2];

if (name) {
    require(`./scenarios/${name}.js`);
} else {
    const { greet } = require('./lib/greet');
    console.log(greet(cashstory.app.name));
}
