// Compiled without ThreadSanitizer's instrumentation (see the header).
#include "internal/tsan_absl_condition.h"

#include <sanitizer/tsan_interface.h>

namespace fsb {

AnnotatedCondition::AnnotatedCondition(const absl::Condition& cond, absl::Mutex* mu)
    : cond_(&cond), mu_(mu), wrapped_(&AnnotatedCondition::Eval, this) {}

bool AnnotatedCondition::Eval(AnnotatedCondition* self) {
  __tsan_acquire(self->mu_);
  const bool result = self->cond_->Eval();
  __tsan_release(self->mu_);
  return result;
}

}  // namespace fsb
