#include "metrics/metrics.h"

#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>

namespace shoal::metrics {

Result<std::unique_ptr<Metrics>> Metrics::Create(const std::string& listen) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->registry_ = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("shoal_build_info")
      .Help("Build information; the value is always 1")
      .Register(*m->registry_)
      .Add({{"version", kVersion}})
      .Set(1);
  if (!listen.empty()) {
    try {
      m->exposer_ = std::make_unique<prometheus::Exposer>(listen, 2);
    } catch (const std::exception& e) {
      return Status(Code::kUnavailable,
                    "cannot serve metrics on " + listen + ": " + e.what());
    }
    m->exposer_->RegisterCollectable(m->registry_);
  }
  return m;
}

void Metrics::Add(std::shared_ptr<prometheus::Collectable> collectable) {
  if (exposer_) exposer_->RegisterCollectable(collectable);
  collectables_.push_back(std::move(collectable));
}

std::string Metrics::Text() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const auto& c : collectables_) {
    for (auto& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace shoal::metrics
