import { DataSource } from 'typeorm';
import { loadConfig } from './src/config/app-config';
import { buildDataSourceOptions } from './src/database/data-source-options';

/** The DataSource the TypeORM CLI uses: `npm run build && npx typeorm -d dist/ormconfig.js …`. */
export default new DataSource(buildDataSourceOptions(loadConfig()));
