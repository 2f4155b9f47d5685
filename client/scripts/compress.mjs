// Writes a Brotli (.br) and a gzip (.gz) twin of every compressible file in the build, so
// the server sends them as they are instead of compressing on each request.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const root = process.argv[2] ?? 'dist'
const compressible = /\.(js|mjs|css|html|svg|json|txt|woff2?)$/

function walk(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) walk(path)
    else if (compressible.test(name)) {
      const data = readFileSync(path)
      writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }))
      writeFileSync(
        `${path}.br`,
        brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
      )
    }
  }
}

walk(root)
