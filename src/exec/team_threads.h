// Giving back the OpenMP team threads a thread keeps after leading a run on a team.
//
// libgomp keeps a pool of team threads for every thread that has led a parallel region, for that
// thread's lifetime, and counts the pooled threads of the whole process. While they outnumber the
// cores it cuts the spin of every waiting team thread from ~300,000 pause loops to 100: a thread that
// reaches a barrier first then sleeps on a futex and has to be woken, at each of the hundreds of
// parallel regions of a run. A server leads teams from several threads (the one that loaded a model
// and warmed it up, each batcher worker), so one idle pool was enough to put it past 2 cores: resnet18
// over HTTP (kiln serve --threads 2, concurrency 16) switched context 80 times per request and
// answered 81-83 requests/s; with the loading thread's pool given back, 10 times and 87-89.
#pragma once

namespace kiln {

// Ends the calling thread's pool of OpenMP team threads (omp_pause_resource_all, soft), so they no
// longer count against the cores; its next parallel region starts new ones. No-op for a thread that
// has none, and inside a parallel region.
void release_team_threads();

}  // namespace kiln
