impl :: bincode :: Encode for GovernanceChange
{
    fn encode < __E : :: bincode :: enc :: Encoder >
    (& self, encoder : & mut __E) ->core :: result :: Result < (), :: bincode
    :: error :: EncodeError >
    {
        match self
        {
            Self ::AddOrg { org, name, admin_key }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (0u32), encoder) ?
                ; :: bincode :: Encode :: encode(org, encoder) ?; :: bincode
                :: Encode :: encode(name, encoder) ?; :: bincode :: Encode ::
                encode(admin_key, encoder) ?; core :: result :: Result ::
                Ok(())
            }, Self ::AddNode { node }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (1u32), encoder) ?
                ; :: bincode :: Encode :: encode(node, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::RemoveNode { node_id }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (2u32), encoder) ?
                ; :: bincode :: Encode :: encode(node_id, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::UpdateParams { params }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (3u32), encoder) ?
                ; :: bincode :: Encode :: encode(params, encoder) ?; core ::
                result :: Result :: Ok(())
            }, Self ::AddAuditor { org, key }
            =>{
                < u32 as :: bincode :: Encode >:: encode(& (4u32), encoder) ?
                ; :: bincode :: Encode :: encode(org, encoder) ?; :: bincode
                :: Encode :: encode(key, encoder) ?; core :: result :: Result
                :: Ok(())
            },
        }
    }
}