// The fault shim: a VFS whose files are the default VFS's files with a thin wrapper
// around xWrite/xSync/xTruncate. Every other call is forwarded unchanged.
#include "image/fault_vfs.h"

#include <sqlite3.h>

#include <cstring>
#include <mutex>

#include "util/util.h"

namespace a4ps::image {
namespace {

enum class Fault { None, Write, Sync, Tear };

struct State {
  std::mutex mu;
  Fault fault = Fault::None;
  FaultVfs::Mode mode = FaultVfs::Mode::Once;
  int64_t nth = 0;
  int64_t writes = 0, syncs = 0, injected = 0;
  bool dead = false;  // after a tear: the disk is gone until clear()

  void arm(Fault f, int64_t n, FaultVfs::Mode m) {
    std::lock_guard lk(mu);
    fault = f, nth = n, mode = m;
    writes = syncs = injected = 0;
    dead = false;
  }
  bool hits(Fault f, int64_t count) const {
    return fault == f && (count == nth || (mode == FaultVfs::Mode::Always && count > nth));
  }
  int fire(int rc) {  // counts an injected fault and returns its error
    ++injected;
    return rc;
  }
};

State& state() {
  static State* s = new State;  // SQLite may close files from static destructors
  return *s;
}

sqlite3_vfs* root() {
  static sqlite3_vfs* r = sqlite3_vfs_find(nullptr);
  return r;
}

// Our file: the wrapper, with the real file's storage right behind it.
struct ShimFile {
  sqlite3_file base;
  bool counted;  // a main database or WAL file
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
static_assert(sizeof(ShimFile) % 8 == 0, "the real file must stay aligned");

ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }
sqlite3_file* real(sqlite3_file* f) { return shim(f)->real(); }

int x_close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
int x_read(sqlite3_file* f, void* buf, int amt, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), buf, amt, off);
}

int x_write(sqlite3_file* f, const void* buf, int amt, sqlite3_int64 off) {
  if (shim(f)->counted) {
    State& s = state();
    std::lock_guard lk(s.mu);
    if (s.dead) return s.fire(SQLITE_IOERR_WRITE);
    int64_t n = ++s.writes;
    if (s.hits(Fault::Write, n)) return s.fire(SQLITE_FULL);  // what the unix VFS returns on ENOSPC
    if (s.fault == Fault::Tear && n == s.nth) {
      // Half the bytes land, the rest never do: a torn page, as after a power cut.
      real(f)->pMethods->xWrite(real(f), buf, amt / 2, off);
      s.dead = true;
      return s.fire(SQLITE_IOERR_WRITE);
    }
  }
  return real(f)->pMethods->xWrite(real(f), buf, amt, off);
}

int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (shim(f)->counted) {
    State& s = state();
    std::lock_guard lk(s.mu);
    if (s.dead) return s.fire(SQLITE_IOERR_TRUNCATE);
  }
  return real(f)->pMethods->xTruncate(real(f), size);
}

int x_sync(sqlite3_file* f, int flags) {
  if (shim(f)->counted) {
    State& s = state();
    std::lock_guard lk(s.mu);
    if (s.dead) return s.fire(SQLITE_IOERR_FSYNC);
    if (s.hits(Fault::Sync, ++s.syncs)) return s.fire(SQLITE_IOERR_FSYNC);
  }
  return real(f)->pMethods->xSync(real(f), flags);
}

int x_file_size(sqlite3_file* f, sqlite3_int64* size) { return real(f)->pMethods->xFileSize(real(f), size); }
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) { return real(f)->pMethods->xCheckReservedLock(real(f), out); }
int x_file_control(sqlite3_file* f, int op, void* arg) { return real(f)->pMethods->xFileControl(real(f), op, arg); }
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
int x_shm_map(sqlite3_file* f, int pg, int sz, int extend, void volatile** p) {
  return real(f)->pMethods->xShmMap(real(f), pg, sz, extend, p);
}
int x_shm_lock(sqlite3_file* f, int off, int n, int flags) { return real(f)->pMethods->xShmLock(real(f), off, n, flags); }
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int amt, void** p) { return real(f)->pMethods->xFetch(real(f), off, amt, p); }
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) { return real(f)->pMethods->xUnfetch(real(f), off, p); }

// One method table per io_methods version, so we never claim more than the real file has.
sqlite3_io_methods make_methods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = x_close, m.xRead = x_read, m.xWrite = x_write, m.xTruncate = x_truncate, m.xSync = x_sync;
  m.xFileSize = x_file_size, m.xLock = x_lock, m.xUnlock = x_unlock, m.xCheckReservedLock = x_check_reserved;
  m.xFileControl = x_file_control, m.xSectorSize = x_sector_size, m.xDeviceCharacteristics = x_device_characteristics;
  if (version >= 2) m.xShmMap = x_shm_map, m.xShmLock = x_shm_lock, m.xShmBarrier = x_shm_barrier, m.xShmUnmap = x_shm_unmap;
  if (version >= 3) m.xFetch = x_fetch, m.xUnfetch = x_unfetch;
  return m;
}
const sqlite3_io_methods kMethods[3] = {make_methods(1), make_methods(2), make_methods(3)};

int x_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out_flags) {
  ShimFile* p = shim(f);
  p->base.pMethods = nullptr;
  p->counted = (flags & (SQLITE_OPEN_MAIN_DB | SQLITE_OPEN_WAL)) != 0;
  int rc = root()->xOpen(root(), name, p->real(), flags, out_flags);
  if (rc != SQLITE_OK) return rc;  // pMethods stays null: SQLite will not close it
  int v = p->real()->pMethods->iVersion;
  p->base.pMethods = &kMethods[(v < 1 ? 1 : v > 3 ? 3 : v) - 1];
  return SQLITE_OK;
}

int x_delete(sqlite3_vfs*, const char* name, int sync_dir) { return root()->xDelete(root(), name, sync_dir); }
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) { return root()->xAccess(root(), name, flags, out); }
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return root()->xFullPathname(root(), name, n, out);
}
void* x_dl_open(sqlite3_vfs*, const char* name) { return root()->xDlOpen(root(), name); }
void x_dl_error(sqlite3_vfs*, int n, char* msg) { root()->xDlError(root(), n, msg); }
void (*x_dl_sym(sqlite3_vfs*, void* h, const char* sym))(void) { return root()->xDlSym(root(), h, sym); }
void x_dl_close(sqlite3_vfs*, void* h) { root()->xDlClose(root(), h); }
int x_randomness(sqlite3_vfs*, int n, char* out) { return root()->xRandomness(root(), n, out); }
int x_sleep(sqlite3_vfs*, int us) { return root()->xSleep(root(), us); }
int x_current_time(sqlite3_vfs*, double* t) { return root()->xCurrentTime(root(), t); }
int x_get_last_error(sqlite3_vfs*, int n, char* out) { return root()->xGetLastError(root(), n, out); }
int x_current_time_int64(sqlite3_vfs*, sqlite3_int64* t) { return root()->xCurrentTimeInt64(root(), t); }

}  // namespace

FaultVfs& FaultVfs::install() {
  static FaultVfs* self = [] {
    static sqlite3_vfs vfs{};
    sqlite3_vfs* r = root();
    if (!r) throw Error("SQLite has no default VFS; the fault shim cannot wrap it");
    vfs.iVersion = 2;  // the system-call hooks (version 3) are not forwarded
    vfs.szOsFile = static_cast<int>(sizeof(ShimFile)) + r->szOsFile;
    vfs.mxPathname = r->mxPathname;
    vfs.zName = kName;
    vfs.xOpen = x_open, vfs.xDelete = x_delete, vfs.xAccess = x_access, vfs.xFullPathname = x_full_pathname;
    vfs.xDlOpen = x_dl_open, vfs.xDlError = x_dl_error, vfs.xDlSym = x_dl_sym, vfs.xDlClose = x_dl_close;
    vfs.xRandomness = x_randomness, vfs.xSleep = x_sleep, vfs.xCurrentTime = x_current_time;
    vfs.xGetLastError = x_get_last_error, vfs.xCurrentTimeInt64 = x_current_time_int64;
    if (int rc = sqlite3_vfs_register(&vfs, 0); rc != SQLITE_OK)
      throw Error(std::string("cannot register the fault VFS: ") + sqlite3_errstr(rc));
    return new FaultVfs;
  }();
  return *self;
}

void FaultVfs::fail_write(int64_t nth, Mode mode) { state().arm(Fault::Write, nth, mode); }
void FaultVfs::fail_sync(int64_t nth, Mode mode) { state().arm(Fault::Sync, nth, mode); }
void FaultVfs::tear_write(int64_t nth) { state().arm(Fault::Tear, nth, Mode::Once); }
void FaultVfs::clear() { state().arm(Fault::None, 0, Mode::Once); }

int64_t FaultVfs::writes() const {
  std::lock_guard lk(state().mu);
  return state().writes;
}
int64_t FaultVfs::syncs() const {
  std::lock_guard lk(state().mu);
  return state().syncs;
}
int64_t FaultVfs::injected() const {
  std::lock_guard lk(state().mu);
  return state().injected;
}

}  // namespace a4ps::image
