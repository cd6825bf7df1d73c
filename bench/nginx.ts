// The peer users would otherwise pick: nginx proxy_cache in front of the same origin, when nginx is installed.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { freePort } from '../test/helpers/process.ts'
import { join } from 'node:path'

export const NGINX = '/usr/sbin/nginx'

/**
 * Starts nginx in front of `originUrl`, with a proxy_cache in `dir` (or, `cache: false`, as a plain proxy_pass);
 * undefined when nginx is not installed.
 */
export async function startNginx(
  originUrl: string,
  dir: string,
  { cache = true } = {},
): Promise<{ url: string; process: ChildProcess } | undefined> {
  if (!existsSync(NGINX)) return undefined
  const port = await freePort()
  const name = cache ? 'nginx' : 'nginx-pass'
  dir = join(dir, name)
  mkdirSync(join(dir, 'cache'), { recursive: true })
  const conf = join(dir, 'nginx.conf')
  writeFileSync(
    conf,
    `
worker_processes 1;
daemon off;
${process.getuid?.() === 0 ? 'user root;  # workers must reach the private temp folder the cache lives in' : ''}
error_log ${dir}/nginx-error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  proxy_cache_path ${dir}/cache keys_zone=bench:10m max_size=1g inactive=1h use_temp_path=off;
  upstream origin { server ${new URL(originUrl).host}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      ${cache ? 'proxy_cache bench;\n      proxy_cache_lock on;' : ''}
    }
  }
}
`,
  )
  const child = spawn(NGINX, ['-c', conf, '-p', dir], { stdio: 'ignore' })
  for (let i = 0; i < 50; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/count`)
      return { url: `http://127.0.0.1:${port}`, process: child }
    } catch {
      await new Promise((r) => setTimeout(r, 100))
    }
  }
  child.kill('SIGKILL')
  return undefined
}
