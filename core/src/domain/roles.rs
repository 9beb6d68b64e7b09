//! Who acts: roles and the org levels they are bound to.

use serde::{Deserialize, Serialize};

/// A level of the organisation tree (区 → 街道 → 社区 → 网格 → 楼栋 → 单元 → 户).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrgLevel {
    /// 区
    District,
    /// 街道
    SubDistrict,
    /// 社区
    Community,
    /// 网格 (also 一级网格 in villages)
    Grid,
    /// 二级网格: a village sub-grid.
    SubGrid,
    /// 楼栋
    Building,
    /// 单元
    Unit,
    /// 职能部门: a department (城管, 民政, 住建, 派出所 ...), beside the tree.
    Department,
}

/// What an account may do, bound to one org node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 专职/兼职网格员
    GridWorker,
    /// 网格长 / 楼栋长 / 单元长 and volunteers: a light role that reports and is visited.
    GridLeader,
    /// 社区书记 / 社区工作者
    CommunitySupervisor,
    /// 街道 网格中心 / 综治中心
    SubDistrictSupervisor,
    /// 职能部门
    Department,
    /// 区 网格化服务管理中心
    DistrictAdmin,
}

impl Role {
    /// The org level this role is bound to.
    pub fn level(self) -> OrgLevel {
        match self {
            Role::GridWorker | Role::GridLeader => OrgLevel::Grid,
            Role::CommunitySupervisor => OrgLevel::Community,
            Role::SubDistrictSupervisor => OrgLevel::SubDistrict,
            Role::Department => OrgLevel::Department,
            Role::DistrictAdmin => OrgLevel::District,
        }
    }

    /// Stable text form (`grid_worker`, ...), as stored in documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::GridLeader => "grid_leader",
            Role::CommunitySupervisor => "community_supervisor",
            Role::SubDistrictSupervisor => "sub_district_supervisor",
            Role::Department => "department",
            Role::DistrictAdmin => "district_admin",
        }
    }

    /// Every role, for tables and tests.
    pub const ALL: [Role; 6] = [
        Role::GridWorker,
        Role::GridLeader,
        Role::CommunitySupervisor,
        Role::SubDistrictSupervisor,
        Role::Department,
        Role::DistrictAdmin,
    ];
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("unknown role `{s}`"))
    }
}
