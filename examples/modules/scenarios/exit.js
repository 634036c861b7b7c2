// Exits with the status given as the second argument; the line after exit()
// must never print.
const status = Number(process.argv[3]);
setTimeout(() => {
    console.log('exiting with', status);
    cashstory.exit(status);
    console.log('not reached');
}, 1);
