// The app's signed identity. The index text and the signature are also
// written to the data folder, so that the test can compare them byte for
// byte with the installed files.
const { app, signatures } = cashstory;

console.log('app:', JSON.stringify(app));
if (signatures) {
    console.log('indexSha256:', signatures.indexSha256);
    console.log('signer:', JSON.stringify({ ...signatures.signer, publicKey: undefined }));
    console.log('public key:', signatures.signer.publicKey ? 'present' : 'absent');
    console.log('files:', signatures.files.length, JSON.stringify(signatures.files[0]));
    console.log('frozen:', Object.isFrozen(app), Object.isFrozen(signatures.files[0]));
    (async () => {
        await cashstory.fs.writeFile('index-copy.json', signatures.index);
        await cashstory.fs.writeFile('signature.b64', signatures.signature);
    })();
}
