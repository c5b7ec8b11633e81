import { describeStorageContract } from './contract';
import { startFsHarness } from './fs-harness';

describeStorageContract('fs driver', startFsHarness);
