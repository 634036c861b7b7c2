// Requires lib/extra.js, which the package does not contain: the tests add
// it to the installed folder to check that an unsigned file is rejected.
try {
    require('../lib/extra');
    console.log('lib/extra.js loaded');
} catch (error) {
    console.log(`lib/extra.js: ${error.code}`);
}
