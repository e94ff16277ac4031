// Bundle the extension into dist/extension.js (one CommonJS file; `vscode` stays external).
// Usage: node scripts/build.mjs [--production] [--watch]
import * as esbuild from 'esbuild';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

const options = {
    entryPoints: ['src/extension.ts'],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    outfile: 'dist/extension.js',
    external: ['vscode'],
    minify: production,
    sourcemap: production ? false : 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    // vscode-languageclient's `exports` map: pick its Node entry points.
    conditions: ['node'],
    mainFields: ['module', 'main'],
};

if (watch) {
    const context = await esbuild.context(options);
    await context.watch();
    console.log('esbuild: watching src/');
} else {
    await esbuild.build(options);
}
