// Copy the project's JSON Schema (the source of truth, helion2json/schema/) into dist/,
// where package.json's `contributes.jsonValidation` points.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', '..', 'helion2json', 'schema', 'helion2json.schema.json');
const target = join(here, '..', 'dist', 'helion2json.schema.json');
mkdirSync(dirname(target), { recursive: true });
copyFileSync(source, target);
console.log(`copied ${source} -> dist/helion2json.schema.json`);
