// tandem::data — datasets, the DataLoader, readers (IDX, CSV, SQL databases) and transforms.
//
//   #include <tandem/data.h>
//   auto train = tandem::data::fashion_mnist();        // Debian's dataset-fashion-mnist
//   tandem::data::DataLoader loader(train, {.batch_size = 128, .shuffle = true, .num_workers = 2});
//   for (auto& batch : loader) { /* batch.data [128,1,28,28] float32, batch.target [128] int64 */ }
#pragma once
#include "tandem/data/csv.h"
#include "tandem/data/dataloader.h"
#include "tandem/data/dataset.h"
#include "tandem/data/idx.h"
#include "tandem/data/sql.h"
#include "tandem/data/transforms.h"
