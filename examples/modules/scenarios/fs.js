// cashstory.fs in the data folder and in granted paths, and the requests it
// must deny. Arguments: the data folder, a read-only grant and a
// read-write grant, all absolute.
const fs = cashstory.fs;
const [dataDir, readOnlyDir, writableDir] = process.argv.slice(3);

async function attempt(label, operation) {
    try {
        await operation();
        console.log(`${label}: allowed`);
    } catch (error) {
        console.log(`${label}: ${error.code}: ${error.message}`);
    }
}

(async () => {
    await fs.mkdir('notes/2024', { recursive: true });
    await fs.writeFile('notes/2024/a.txt', 'hello data');
    await fs.writeFile('notes/b.bin', new Uint8Array([1, 2, 3]));
    console.log('read:', await fs.readFile('notes/2024/a.txt', 'utf8'));
    console.log('bytes:', Array.from(await fs.readFile('notes/b.bin')).join(','));
    console.log('readdir:', (await fs.readdir('notes')).join(','));
    const stat = await fs.stat('notes/2024/a.txt');
    console.log('stat:', stat.size, stat.isFile(), stat.isDirectory());
    console.log('absolute:', await fs.readFile(`${dataDir}/notes/2024/a.txt`, { encoding: 'utf8' }));
    await fs.rm('notes/b.bin');
    await attempt('rm folder without recursive', () => fs.rm('notes'));
    await fs.rm('notes', { recursive: true });
    await fs.mkdir('kept');
    console.log('after rm:', (await fs.readdir('.')).join(','));

    console.log('read-only grant:', await fs.readFile(`${readOnlyDir}/input.txt`, 'utf8'));
    await fs.writeFile(`${writableDir}/output.txt`, 'written through a grant');
    console.log('read-write grant:', await fs.readFile(`${writableDir}/output.txt`, 'utf8'));

    await attempt('outside', () => fs.readFile('/etc/hostname'));
    await attempt('write to read-only grant', () => fs.writeFile(`${readOnlyDir}/new.txt`, 'x'));
    await attempt('dot-dot escape', () => fs.readFile('../../../../../../etc/passwd'));
    await attempt('symlink folder escape', () => fs.readFile('link-to-etc/passwd'));
    await attempt('symlink file escape', () => fs.readFile('link-to-passwd'));
    await attempt('missing file', () => fs.readFile('no-such-file'));
    await attempt('remove data folder', () => fs.rm(dataDir, { recursive: true }));
})();
