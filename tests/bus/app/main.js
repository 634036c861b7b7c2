// Runs scenarios/NAME.js, where NAME is the first argument after "--".
const name = process.argv[2];
if (!name) {
    console.error('usage: cashstory-app ... -- SCENARIO [ARGS...]');
    process.exit(2);
}
require(`./scenarios/${name}.js`);
