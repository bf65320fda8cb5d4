// A test Env over the real one that can make the disk "full" for the files written
// through it: the chosen append writes half its bytes, then fails with ENOSPC, and every
// later append fails too until clear() (as with a real full disk).
#pragma once
#include <cerrno>
#include <memory>
#include <mutex>

#include "util/env.h"
#include "util/util.h"

namespace a4ps::test {

class FaultEnv : public EnvWrapper {
 public:
  FaultEnv() : EnvWrapper(Env::Default()) {}

  void fail_append(int nth) {  // 1 = the next append
    std::lock_guard lk(mu_);
    fail_at_ = nth, appends_ = 0, injected_ = 0;
  }
  void clear() { fail_append(0); }
  int injected() const {
    std::lock_guard lk(mu_);
    return injected_;
  }

  std::unique_ptr<WritableFile> new_writable_file(const std::filesystem::path& p) override {
    return std::make_unique<File>(this, target()->new_writable_file(p), p);
  }

 private:
  class File : public WritableFile {
   public:
    File(FaultEnv* env, std::unique_ptr<WritableFile> real, std::filesystem::path p)
        : env_(env), real_(std::move(real)), path_(std::move(p)) {}
    void append(std::string_view data) override {
      if (env_->should_fail()) {
        real_->append(data.substr(0, data.size() / 2));  // what fit before the disk filled
        throw Error(file_error("write", path_, ENOSPC));
      }
      real_->append(data);
    }
    void close() override { real_->close(); }

   private:
    FaultEnv* env_;
    std::unique_ptr<WritableFile> real_;
    std::filesystem::path path_;
  };

  bool should_fail() {
    std::lock_guard lk(mu_);
    if (fail_at_ <= 0 || ++appends_ < fail_at_) return false;
    ++injected_;
    return true;
  }

  mutable std::mutex mu_;
  int fail_at_ = 0, appends_ = 0, injected_ = 0;
};

}  // namespace a4ps::test
