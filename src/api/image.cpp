// The public Image: opening (or making) an image, guarded by its codex.
#include <filesystem>

#include "api/internal.h"
#include "codex/codex.h"

namespace a4ps {

Image::Image(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Image::Image(Image&&) noexcept = default;
Image& Image::operator=(Image&&) noexcept = default;
Image::~Image() = default;

Image Image::open(const std::string& path, const ImageOptions& o) {
  if (!std::filesystem::exists(path)) {
    if (!o.create_if_missing || o.read_only)
      throw Error("no image at " + path + "; create one with `a4ps image init " + path + "`");
    image::Image::create(path, {.base_model = o.base_model});
  }
  auto impl = std::make_unique<Impl>(Impl{path, o.read_only ? image::Image::open(path, {.read_only = true}) : codex::open_guarded(path),
                                          o.read_only});
  return Image(std::move(impl));
}

const std::string& Image::path() const { return impl_->path; }

ImageInfo Image::info() const {
  return info_of(impl_->img.info());
}

bool Image::check(std::string* problem) const {
  auto r = impl_->img.check();
  if (!r.ok && problem) *problem = r.problems.empty() ? "the image failed its check" : r.problems.front();
  return r.ok;
}

std::string Image::setting(const std::string& key) const { return impl_->img.setting(key); }

void Image::set_setting(const std::string& key, const std::string& value) {
  if (impl_->read_only) throw Error("the image " + impl_->path + " was opened read-only");
  impl_->img.set_setting(key, value);
}

}  // namespace a4ps
