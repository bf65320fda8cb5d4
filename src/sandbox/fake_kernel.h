// FakeKernel: a test double for the logic around the sandbox (the forge, the agent's
// CodeAct, doesNotUnderstand), so those tests run on every machine, sandbox or not. It
// runs the same Python runtime as a plain child process with NO isolation (only for
// code the tests themselves wrote), records every piece of code it is given, and can be
// told to answer the next runs with a chosen failure (a timeout, a crashed kernel).
// The real providers keep their own tests (sandbox_test, containment_test).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sandbox/sandbox.h"

namespace a4ps::sandbox {

class FakeKernel : public Kernel {
 public:
  explicit FakeKernel(const fs::path& workspace, Limits limits = {});
  Result run(const std::string& code) override;
  Provider provider() const override { return Provider::None; }
  void set_reflection(std::function<nlohmann::json(const std::string&, const nlohmann::json&)> answer) override;

  // Run number `run` (0 = the first this kernel is given) answers with `failure` instead of running.
  void fail_run(size_t run, Result failure) { failures_[run] = std::move(failure); }
  static Result timeout();  // as a kernel past its wall time answers
  static Result crash();    // as a kernel that died answers

  const std::vector<std::string>& codes() const { return codes_; }  // every run, in order

 private:
  std::unique_ptr<Kernel> inner_;
  std::map<size_t, Result> failures_;
  std::vector<std::string> codes_;
};

// A KernelFactory that makes FakeKernels (for AgentOptions::kernel and the like); each
// kernel made is also kept in *made when given.
KernelFactory fake_kernel_factory(std::vector<FakeKernel*>* made = nullptr);

}  // namespace a4ps::sandbox
