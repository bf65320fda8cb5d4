#include "sandbox/fake_kernel.h"

namespace a4ps::sandbox {

FakeKernel::FakeKernel(const fs::path& workspace, Limits limits)
    : inner_(Kernel::start({.provider = Provider::None, .limits = limits, .workspace = workspace, .allow_unsafe = true})) {}

Result FakeKernel::run(const std::string& code) {
  codes_.push_back(code);
  if (auto it = failures_.find(codes_.size() - 1); it != failures_.end()) return it->second;
  return inner_->run(code);
}

void FakeKernel::set_reflection(std::function<nlohmann::json(const std::string&, const nlohmann::json&)> answer) {
  inner_->set_reflection(std::move(answer));
}

Result FakeKernel::timeout() {
  Result r;
  r.timed_out = true;
  r.error = "the run exceeded its wall-time limit (a fake timeout); the kernel was restarted";
  return r;
}

Result FakeKernel::crash() {
  Result r;
  r.crashed = true;
  r.error = "the sandbox kernel died (a fake crash); it restarts on the next run";
  return r;
}

KernelFactory fake_kernel_factory(std::vector<FakeKernel*>* made) {
  return [made](const Options& o) -> std::unique_ptr<Kernel> {
    auto k = std::make_unique<FakeKernel>(o.workspace, o.limits);
    if (made) made->push_back(k.get());
    return k;
  };
}

}  // namespace a4ps::sandbox
