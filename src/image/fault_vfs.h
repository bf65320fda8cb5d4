// A SQLite VFS shim for fault-injection tests: it wraps the default VFS and, when told
// to, fails a chosen write (SQLITE_FULL, a full disk) or fsync (SQLITE_IOERR_FSYNC), or
// tears a write (only its first half reaches the file, then the "disk" is gone).
//
// It is test machinery, but lives in the library so every module's tests can open an
// image through it: `Image::open(path, {.vfs = image::FaultVfs::kName})` (which installs
// it). The faults are process-wide: arm them, run, clear() them. Only writes
// and syncs of main database and WAL files are counted (not -shm, not temp files), so
// "the 3rd write" means the 3rd write that can lose an image's data. Nothing here fires
// unless a test arms it; an unarmed shim only forwards and counts.
#pragma once
#include <cstdint>

namespace a4ps::image {

class FaultVfs {
 public:
  static constexpr const char* kName = "a4ps-fault";

  // Registers the shim (once; safe to call again) and returns its controller.
  static FaultVfs& install();

  enum class Mode {
    Once,    // only the chosen operation fails (a transient error)
    Always,  // it and every later one of its kind fail, until clear() (a disk that stays full)
  };
  // The nth counted write/sync from now (1 = the next one) fails. Re-arming replaces
  // any earlier fault and restarts the counts.
  void fail_write(int64_t nth, Mode mode = Mode::Always);
  void fail_sync(int64_t nth, Mode mode = Mode::Once);
  // The nth write from now writes only its first half and fails with SQLITE_IOERR_WRITE;
  // from then on every write and sync fails too, as when power is lost mid-write. Copy
  // the files then to see what a crash at that moment would have left on disk.
  void tear_write(int64_t nth);
  void clear();  // no more faults ("space is back"); counts restart

  int64_t writes() const;    // counted writes since the last arm/clear
  int64_t syncs() const;     // counted syncs since the last arm/clear
  int64_t injected() const;  // faults fired since the last arm/clear

 private:
  FaultVfs() = default;
};

}  // namespace a4ps::image
