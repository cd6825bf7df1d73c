// Composition root: parse config, start cachecar, handle signals. Nothing else lives here.
import { ConfigError, configHelp, loadConfig, type Config } from './config.ts'
import { createLogger } from './ops/logger.ts'
import { ListenError, start } from './wiring/server.ts'
import { DatabaseInUseError } from './store/sqlite/instance-lock.ts'

const args = process.argv.slice(2)
if (args.includes('--help') || args.includes('-h')) {
  console.log(configHelp())
  process.exit(0)
}
if (args.length > 0) {
  console.error(
    `cachecar: unknown argument ${JSON.stringify(args[0])}; configuration comes from CACHECAR_* variables (see --help)`,
  )
  process.exit(2)
}

let config: Config
try {
  config = loadConfig(process.env)
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  for (const problem of error.problems) console.error(`cachecar: ${problem}`)
  process.exit(2)
}

const logger = createLogger(config.logLevel)
try {
  const running = await start(config, logger)
  let signals = 0
  const onSignal = (signal: NodeJS.Signals) => {
    if (++signals > 1) {
      logger.warn({ event: 'second_signal', signal }, 'second signal: exiting at once')
      process.exit(1)
    }
    logger.info({ event: 'shutdown', signal, graceMs: config.shutdownGraceMs }, 'draining')
    running.shutdown().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.fatal({ event: 'shutdown_failed', err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  }
  process.on('SIGTERM', onSignal)
  process.on('SIGINT', onSignal)
} catch (error) {
  // Another instance on this database path, or an address it cannot bind: one plain line, like a configuration problem.
  if (error instanceof DatabaseInUseError || error instanceof ListenError) console.error(`cachecar: ${error.message}`)
  else logger.fatal({ event: 'start_failed', err: error }, `cachecar could not start: ${(error as Error).message}`)
  process.exit(1)
}
